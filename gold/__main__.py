import sys

from gold.run import main

sys.exit(main())
