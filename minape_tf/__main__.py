import sys

from minape_tf.cli.main import main

sys.exit(main())
