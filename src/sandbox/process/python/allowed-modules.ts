/**
 * The modules a Python payload or registered Python function may import (top-level names; their
 * submodules come with them), and nothing else: an `import` of any other module fails the task, naming
 * it. This is the interface payloads can rely on, not the security boundary: that is the confined process
 * (docs/python.md). Kept to pure computation: no os, sys, socket, subprocess, ctypes, importlib, threading.
 */
export const ALLOWED_PYTHON_MODULES: readonly string[] = [
  'abc', 'array', 'base64', 'binascii', 'bisect', 'calendar', 'cmath', 'collections', 'copy', 'csv',
  'dataclasses', 'datetime', 'decimal', 'enum', 'fractions', 'functools', 'hashlib', 'heapq', 'hmac',
  'io', 'itertools', 'json', 'marshal', 'math', 'numbers', 'operator', 'random', 're', 'statistics',
  'string', 'struct', 'textwrap', 'time', 'typing', 'unicodedata', 'zlib',
];
