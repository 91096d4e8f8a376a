#!/bin/sh
echo started on $PORT
