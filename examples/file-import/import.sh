#!/bin/sh
# Append every *.csv in the inbox (minus its header line) to the "database" file, then
# move it to done/. A file is moved only after its rows are in, so a crash mid-way
# re-imports that file on the next run rather than losing it.
set -eu

inbox=${CRONFLOW_PARAM_INBOX:?}
done_dir=${CRONFLOW_PARAM_DONE:?}
database=${CRONFLOW_PARAM_DATABASE:?}
mkdir -p "$done_dir"

count=0
for file in "$inbox"/*.csv; do
    [ -e "$file" ] || continue
    tail -n +2 "$file" >> "$database"
    mv -- "$file" "$done_dir/"
    count=$((count + 1))
    echo "import: loaded $(basename "$file")"
done
echo "import: $count file(s) imported into $database"
