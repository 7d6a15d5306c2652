import sys

from bronze.run import main

sys.exit(main())
