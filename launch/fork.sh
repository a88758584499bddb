#!/usr/bin/env bash
# Fork a project: copies projects/OLD, configs/OLD and tests/projects/test_OLD.py to NEW, drops OLD's
# results, and rewrites every reference to OLD in the copied modules, configs, tests and READMEs:
#   imports and modules      projects.OLD -> projects.NEW, configs.OLD -> configs.NEW
#   paths (commands, docs)   projects/OLD -> projects/NEW, configs/OLD -> configs/NEW, tests/projects/test_OLD
#   the project name         project = "OLD" / project="OLD" (config.project, keyword arguments),
#                            --project OLD (launch/sweep.py commands)
# Other strings equal to OLD are left alone (a method may share its project's name, e.g. weighting="fedau").
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
if [ -d "configs/$old" ]; then cp -r "configs/$old" "configs/$new"; else mkdir -p "configs/$new"; fi
rm -rf "projects/$new/results" "projects/$new/__pycache__" "configs/$new/__pycache__"
files=$(find "projects/$new" "configs/$new" -type f \( -name '*.py' -o -name '*.md' -o -name '*.sh' \))
if [ -f "tests/projects/test_$old.py" ]; then
  cp "tests/projects/test_$old.py" "tests/projects/test_$new.py"; files="$files tests/projects/test_$new.py"
fi
q="[\"']"
sed -i -E \
  -e "s/\b(projects|configs)\.$old\b/\1.$new/g" \
  -e "s#\b(projects|configs)/$old\b#\1/$new#g" \
  -e "s#\btests/projects/test_$old\.py\b#tests/projects/test_$new.py#g" \
  -e "s/(\bproject\s*=\s*)($q)$old\2/\1\2$new\2/g" \
  -e "s/(--project[ =])$old\b/\1$new/g" \
  $files
echo "forked projects/$old -> projects/$new (configs/$new$( [ -f tests/projects/test_$new.py ] && echo ", tests/projects/test_$new.py"))"
