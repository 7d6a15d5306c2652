"""How bronze spreads landing files over Spark tasks."""

from __future__ import annotations

from bronze.read import group_files


def test_files_are_spread_over_at_most_two_tasks_per_core_by_size():
    sizes = [40, 10, 10, 10, 10, 30, 20, 20, 5, 5]
    groups = group_files(list(range(len(sizes))), sizes, cores=2)
    assert len(groups) == 4
    assert sorted(i for g in groups for i in g) == list(range(len(sizes)))  # each once
    loads = sorted(sum(sizes[i] for i in g) for g in groups)
    assert loads == [40, 40, 40, 40]  # largest first into the lightest group


def test_a_big_file_keeps_a_task_of_its_own_and_few_files_one_each():
    assert group_files(["big", "a", "b"], [100, 1, 1], cores=8) == [["big"], ["a"], ["b"]]
    groups = group_files(["big", "a", "b", "c", "d"], [100, 1, 1, 1, 1], cores=1)
    assert groups == [["big"], ["a", "b", "c", "d"]]
    assert group_files([], [], cores=2) == []
