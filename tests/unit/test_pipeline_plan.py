"""Which stages `python -m pipeline` runs for the ones named, and where stage flags go."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline import parse_args, plan


@pytest.mark.parametrize(("named", "runs"), [
    (["bronze", "silver", "gold", "train"],
     ["bronze", "silver", "gold", "train", "score", "report"]),
    (["score"], ["score", "report"]),
    (["train", "report"], ["train", "score", "report"]),
    (["gold", "score", "train"], ["gold", "score", "train", "report"]),
    (["bronze", "silver"], ["bronze", "silver"]),
    (["report"], ["report"]),
])
def test_score_follows_train_and_the_report_follows_both(named, runs):
    assert plan(named) == runs


def test_flags_of_a_single_stage_go_to_that_stage():
    args, score = parse_args(["score", "--as-of", "2024-06-30", "--env", "test"])
    assert args.stages == ["score"] and args.env == "test"
    assert score.as_of == date(2024, 6, 30)


def test_stage_flags_with_several_stages_are_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["gold", "train", "--all"])
    assert "go with a single stage" in capsys.readouterr().err


def test_an_unknown_stage_beside_a_known_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["bronze", "platinum"])
    assert "platinum" in capsys.readouterr().err
