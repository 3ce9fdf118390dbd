# SPDX-License-Identifier: MIT
# Sourced by the scripts: common settings.
PDML_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
PDML_JOBS="${PDML_JOBS:-$(nproc 2>/dev/null || echo 2)}"
