import sys

from report.run import main

sys.exit(main())
