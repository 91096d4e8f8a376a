#!/bin/sh
# A bot: runs for good and never opens a port.
while true; do
    echo "bot tick"
    sleep 1
done
