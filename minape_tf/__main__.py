import sys

from minape_tf.cli import main

sys.exit(main())
