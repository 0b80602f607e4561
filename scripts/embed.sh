#!/bin/sh
# embed.sh NAME FILE: prints a C header defining `static const char NAME[]`
# holding FILE's bytes, NUL-terminated (no xxd needed).
set -eu
name=$1
file=$2
printf '/* generated from %s by scripts/embed.sh; do not edit */\n' "$file"
printf 'static const char %s[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/        /'
printf '        0x00\n};\n'
