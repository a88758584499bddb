#!/usr/bin/env bash
# Fork a project: copies projects/OLD, configs/OLD and tests/projects/test_OLD.py to NEW,
# rewrites imports, config.project and config paths, and drops OLD's results.
#
#   launch/fork.sh lamb my_lamb && python -m projects.my_lamb.main --config=configs/my_lamb/default.py --workdir=runs/x
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 OLD NEW" >&2; exit 2; fi
old=$1; new=$2
cd "$(dirname "$0")/.."
[[ "$new" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "NEW must be a Python identifier (lowercase): $new" >&2; exit 2; }
[ -d "projects/$old" ] || { echo "no such project: projects/$old" >&2; exit 2; }
for p in "projects/$new" "configs/$new"; do [ -e "$p" ] && { echo "$p already exists" >&2; exit 2; }; done
cp -r "projects/$old" "projects/$new"
cp -r "configs/$old" "configs/$new"
rm -rf "projects/$new/results" "projects/$new/__pycache__" "configs/$new/__pycache__"
files=$(find "projects/$new" "configs/$new" -name '*.py' -o -name '*.md')
if [ -f "tests/projects/test_$old.py" ]; then
  cp "tests/projects/test_$old.py" "tests/projects/test_$new.py"; files="$files tests/projects/test_$new.py"
fi
# imports, config paths, config.project / c.project = "old", python -m commands
sed -i -E \
  -e "s/\bprojects\.$old\b/projects.$new/g" \
  -e "s#configs/$old/#configs/$new/#g" \
  -e "s#projects/$old\b#projects/$new#g" \
  -e "s/^(\s*[A-Za-z_]+\.project\s*=\s*)([\"'])$old\2/\1\2$new\2/" \
  $files
echo "forked projects/$old -> projects/$new (configs/$new$( [ -f tests/projects/test_$new.py ] && echo ", tests/projects/test_$new.py"))"
