# Shared by the exporter and generated-conformance scripts (sourced, not run).

# make_venv DIR PACKAGE...: a virtual environment at DIR with the packages from PyPI, made once
# (kept while its python can import the first package).
make_venv() {
  local venv="$1"; shift
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import $1" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
  fi
}

# run_model_folders KEEL DIR: `keel run` on every model folder under DIR (each checked against
# its float64 references), printing the model, folding and check lines; returns 1 when any
# fails.
run_model_folders() {
  local keel="$1" out="$2" status=0 dir name log
  for dir in "$out"/*/; do
    name="$(basename "$dir")"
    if ! log="$("$keel" run "$dir" 2>&1)"; then
      echo "FAIL $name:"; echo "$log"; status=1; continue
    fi
    echo "$log" | grep -E '^model:|^folding:|^check ' | sed "s|^|$name: |"
  done
  return $status
}
