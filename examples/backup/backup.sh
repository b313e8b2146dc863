#!/bin/sh
# Archive $CRONFLOW_PARAM_SOURCE into $CRONFLOW_PARAM_DEST/<name>-<UTC time>.tar.gz and keep
# the newest $CRONFLOW_PARAM_KEEP archives. Parameters arrive as environment variables,
# never spliced into a shell string.
set -eu

source_dir=${CRONFLOW_PARAM_SOURCE:?set the source parameter}
dest=${CRONFLOW_PARAM_DEST:?set the dest parameter}
keep=${CRONFLOW_PARAM_KEEP:-7}
case $source_dir in "~"|"~/"*) source_dir="$HOME${source_dir#\~}" ;; esac

if [ ! -d "$source_dir" ]; then
    echo "backup: source $source_dir is not a directory" >&2
    exit 2
fi
mkdir -p "$dest"
name=$(basename "$source_dir")
stamp=$(date -u +%Y%m%dT%H%M%SZ)
archive="$dest/$name-$stamp.tar.gz"

# write under a temporary name, so a half-written archive never counts as a backup
tar -czf "$archive.part" -C "$(dirname "$source_dir")" "$name"
mv "$archive.part" "$archive"
echo "backup: wrote $archive ($(du -h "$archive" | cut -f1))"

# prune: the UTC stamps in the names sort by age; newest first, drop all after $keep
ls -1 "$dest/$name"-*.tar.gz | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
    rm -f -- "$old"
    echo "backup: pruned $old"
done
