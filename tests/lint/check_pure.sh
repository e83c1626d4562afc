#!/usr/bin/env bash
# Lint: the pure layers (src/base, src/wal, src/core) include no threads, files,
# sockets, clocks, randomness, Asio, Cap'n Proto or LevelDB (STYLE.md, "The seam").
# Usage: check_pure.sh DIR...      exit 0 if clean, 1 with one line per offence.
# Usage: check_pure.sh --self-test  proves the checker rejects each forbidden form.
set -uo pipefail

forbidden_includes='thread|mutex|shared_mutex|condition_variable|future|atomic|filesystem|fstream|iostream|random|chrono|ctime|time\.h|sys/[a-z_]+\.h|unistd\.h|fcntl\.h|netinet/[a-z_]+\.h|arpa/[a-z_]+\.h|asio[^>]*|capnp/[^>]*|kj/[^>]*|leveldb/[^>]*|spdlog/[^>]*|pthread\.h|cstdio'
# <cstdio> is allowed only in base/assert.h (the assertion failure message).
pattern="^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"](${forbidden_includes})[>\"]"
calls='std::chrono::(system|steady|high_resolution)_clock|[^_a-z]rand\(|srand\(|time\(nullptr\)|getenv\(|std::thread|fopen\(|[^a-z_]open\(|socket\('

check() {
  local bad=0
  while IFS= read -r -d '' f; do
    while IFS= read -r hit; do
      [[ -z $hit ]] && continue
      if [[ $f == */base/assert.h && $hit == *cstdio* ]]; then continue; fi
      echo "$f:$hit: forbidden in a pure layer"
      bad=1
    done < <(grep -nE "$pattern" "$f" | cut -d: -f1,2)
    while IFS= read -r hit; do
      [[ -z $hit ]] && continue
      echo "$f:$hit: forbidden call in a pure layer"
      bad=1
    done < <(grep -nE "$calls" "$f" | grep -vE '^[0-9]+:[[:space:]]*//' | cut -d: -f1,2)
  done < <(find "$@" -type f \( -name '*.h' -o -name '*.cc' \) -print0 | sort -z)
  return $bad
}

if [[ ${1:-} == --self-test ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  fails=0
  for form in '#include <thread>' '#include <random>' '#include <fstream>' '#include <asio.hpp>' \
              '#include <capnp/message.h>' '#include <leveldb/db.h>' '#include <filesystem>' \
              '#include <unistd.h>' 'auto t = std::chrono::steady_clock::now();' 'int x = rand();'; do
    printf '%s\n' "$form" > "$tmp/x.cc"
    if check "$tmp" >/dev/null; then echo "self-test: checker accepted: $form"; fails=1; fi
  done
  printf '#include <vector>\n#include "wal/lsn.h"\n' > "$tmp/x.cc"
  check "$tmp" >/dev/null || { echo "self-test: checker rejected a clean file"; fails=1; }
  [[ $fails -eq 0 ]] && echo "self-test: checker rejects every forbidden form"
  exit $fails
fi

[[ $# -ge 1 ]] || { echo "usage: check_pure.sh DIR... | --self-test" >&2; exit 2; }
if check "$@"; then echo "pure layers clean: $*"; else exit 1; fi
