#!/bin/sh
# A run-to-completion job: prints and exits 0, opening no port.
echo "job ran on $RAILWAY_SERVICE_NAME"
exit 0
