import sys

from silver.run import main

sys.exit(main())
