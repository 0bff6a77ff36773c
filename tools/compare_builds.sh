#!/usr/bin/env bash
# Checks that two builds of keel give bit-identical outputs: every model folder given (default:
# the committed models and the generated zoo) in both layouts, with and without Winograd, on
# the bundled inputs. For refactors that must not change a bit (the typed seam, the conv list).
#   tools/compare_builds.sh OLD/bin/keel NEW/bin/keel [MODEL_DIR ...]
set -euo pipefail
old=$1 new=$2
shift 2
models=("$@")
if [[ ${#models[@]} -eq 0 ]]; then
  for d in models/*/ models/zoo/*/; do [[ -f $d/model.onnx ]] && models+=("${d%/}"); done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checked=0 differ=0
for m in "${models[@]}"; do
  for layout in nchw nhwc; do
    for wino in "" --no-winograd; do
      args=(run "$m" --layout "$layout" $wino --iterations 0 --threads 2)
      rm -rf "$work/a" "$work/b"
      "$old" "${args[@]}" -o "$work/a" > /dev/null
      "$new" "${args[@]}" -o "$work/b" > /dev/null
      for f in "$work"/a/*.npy; do
        checked=$((checked + 1))
        if ! cmp -s "$f" "$work/b/$(basename "$f")"; then
          echo "DIFFER: $m $layout ${wino:-winograd} $(basename "$f")"
          differ=$((differ + 1))
        fi
      done
    done
  done
done
echo "compare_builds: $checked outputs compared, $differ differ"
[[ $differ -eq 0 ]]
