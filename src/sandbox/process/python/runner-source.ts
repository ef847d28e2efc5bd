// The Python side of the sandbox: run by `python3 -I -S -B -c` inside the confined process
// (sandbox.ts). It speaks JSON lines with the node over its original stdin/stdout: one request in;
// for mesapy_from_buffer, file calls out and their answers in; one `done` or `error` out. The payload's
// own prints go to stderr. Limits are set before any payload code runs and cannot be raised again.
//
// Result of mesapy_from_buffer: the entrypoint's return value in Python 2's marshal format (version 2),
// which MesaPy (PyPy 2) wrote: Python 3 `str` is written as Python 2 `str` ('s', its UTF-8 bytes), ints as
// 'i' (32 bit), 'I' (64 bit) or 'l' (longer), floats as 'g' (binary).
export const PYTHON_RUNNER = String.raw`
import builtins as _b, json as _json, base64 as _b64, os as _os, sys as _sys, resource as _res, struct as _st, types as _types

_inp = _os.fdopen(_os.dup(0), 'r', encoding='utf-8')
_out = _os.fdopen(_os.dup(1), 'w', encoding='utf-8')
_os.dup2(2, 1)
_null = _os.open(_os.devnull, _os.O_RDONLY)
_os.dup2(_null, 0)

def _send(m):
    _out.write(_json.dumps(m) + '\n')
    _out.flush()

def _fail(kind, message):
    _send({'t': 'error', 'kind': kind, 'message': message})
    _out.close()
    _os._exit(0)

_req = _json.loads(_inp.readline())
_mode = _req['mode']

class _Refused(ImportError):
    pass

class _Unmarshallable(ValueError):
    pass

_allowed = frozenset(_req['allowed'])
_real_import = _b.__import__

def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level != 0:
        raise _Refused('relative imports are not available in the sandbox')
    top = name.partition('.')[0]
    if top not in _allowed:
        raise _Refused("module '%s' is not in the sandbox's allowed set" % top)
    return _real_import(name, globals, locals, fromlist, level)

def _call(method, **kw):
    _send(dict(t='call', method=method, **kw))
    answer = _json.loads(_inp.readline())
    if not answer.get('ok'):
        raise PermissionError(answer.get('error', method + ' was refused'))
    return answer

def _as_bytes(content):
    if isinstance(content, str):
        return content.encode('utf-8', 'surrogateescape')
    if isinstance(content, (bytes, bytearray)):
        return bytes(content)
    raise TypeError('file content must be str or bytes')

def _mesatee_module():
    m = _types.ModuleType('mesatee')
    def read(context_id, context_token, file_id):
        data = _b64.b64decode(_call('readFile', file_id=str(file_id))['data'])
        return data.decode('utf-8', 'surrogateescape')
    def save(method, content, **kw):
        return _call(method, data=_b64.b64encode(_as_bytes(content)).decode('ascii'), **kw)['id']
    m.mesatee_read_file = read
    m.mesatee_save_file_for_task_creator = lambda context_id, context_token, content: save('saveForCreator', content)
    m.mesatee_save_file_for_all_participants = lambda context_id, context_token, content: save('saveForAllParticipants', content)
    m.mesatee_save_file_for_file_owner = lambda context_id, context_token, file_id, content: save('saveForFileOwner', content, file_id=str(file_id))
    return m

class _Io:
    def __init__(self, inputs, outputs):
        self._inputs = inputs
        self._declared = frozenset(outputs)
        self.saved = {}
    def input(self, name):
        if name not in self._inputs:
            raise KeyError("no input named '%s'" % name)
        return self._inputs[name]
    def input_text(self, name):
        return self.input(name).decode('utf-8')
    def has_output(self, name):
        return name in self._declared
    def output(self, name, data):
        if name not in self._declared:
            raise KeyError("no output named '%s'" % name)
        self.saved[name] = _as_bytes(data)

def _marshal2(v, out, depth=0):
    if depth > 1000:
        raise _Unmarshallable('the result is nested too deeply to marshal')
    t = type(v)
    if v is None: out += b'N'
    elif v is True: out += b'T'
    elif v is False: out += b'F'
    elif v is StopIteration: out += b'S'
    elif v is Ellipsis: out += b'.'
    elif t is int:
        if -2**31 <= v < 2**31: out += b'i' + _st.pack('<i', v)
        elif -2**63 <= v < 2**63: out += b'I' + _st.pack('<q', v)
        else:
            n, digits = abs(v), []
            while n:
                digits.append(n & 0x7fff)
                n >>= 15
            out += b'l' + _st.pack('<i', len(digits) if v > 0 else -len(digits)) + b''.join(_st.pack('<H', d) for d in digits)
    elif t is float: out += b'g' + _st.pack('<d', v)
    elif t is complex: out += b'y' + _st.pack('<dd', v.real, v.imag)
    elif t in (str, bytes, bytearray):
        data = v.encode('utf-8', 'surrogateescape') if t is str else bytes(v)
        out += b's' + _st.pack('<i', len(data)) + data
    elif t in (tuple, list, set, frozenset):
        out += {tuple: b'(', list: b'[', set: b'<', frozenset: b'>'}[t] + _st.pack('<i', len(v))
        for x in v: _marshal2(x, out, depth + 1)
    elif t is dict:
        out += b'{'
        for k, x in v.items():
            _marshal2(k, out, depth + 1)
            _marshal2(x, out, depth + 1)
        out += b'0'
    else:
        raise _Unmarshallable("the entrypoint returned a %s, which marshal cannot write (None, bool, int, float, complex, str, bytes, tuple, list, dict, set)" % t.__name__)

def _payload_line(tb):
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == '<payload>':
            line = tb.tb_lineno
        tb = tb.tb_next
    return line

_inputs = {k: _b64.b64decode(v) for k, v in _req.get('inputs', {}).items()}
_user_builtins = dict(vars(_b))
_user_builtins['__import__'] = _guarded_import
for _name in ('breakpoint', 'input', 'help', 'exit', 'quit', 'copyright', 'credits', 'license'):
    _user_builtins.pop(_name, None)
if _mode == 'mesapy':
    _sys.modules['mesatee'] = _mesatee_module()
_globals = {'__builtins__': _user_builtins, '__name__': '__main__'}

# The address space the payload may add to what the interpreter holds now, and a CPU-time backstop to the
# node's wall-time limit; hard limits, so the payload cannot raise them.
with open('/proc/self/statm') as _f:
    _base = int(_f.read().split()[0]) * _os.sysconf('SC_PAGE_SIZE')
_limit = _base + int(_req['memory_bytes'])
_res.setrlimit(_res.RLIMIT_AS, (_limit, _limit))
_res.setrlimit(_res.RLIMIT_CPU, (int(_req['cpu_seconds']), int(_req['cpu_seconds'])))
_res.setrlimit(_res.RLIMIT_NPROC, (0, 0))
_reserve = bytearray(1 << 20)

try:
    exec(compile(_req['code'], '<payload>', 'exec'), _globals)
    _entry = _globals.get(_req['export'])
    if not callable(_entry):
        _fail('entrypoint', "the code defines no function '%s'" % _req['export'])
    if _mode == 'mesapy':
        _c = getattr(_entry, '__code__', None)
        # v0.1 called entrypoint(); late MesaTEE calls entrypoint(argv).
        _value = _entry(_req['argv']) if _c is None or _c.co_argcount >= 1 or _c.co_flags & 0x04 else _entry()
        _buf = bytearray()
        _marshal2(_value, _buf)
        _send({'t': 'done', 'marshal': _buf.hex()})
    else:
        _io = _Io(_inputs, _req['outputs'])
        _value = _entry(_req['args'], _io)
        if not isinstance(_value, str):
            _fail('result', 'the entrypoint must return a str, not %s' % type(_value).__name__)
        _send({'t': 'done', 'result': _value, 'outputs': {k: _b64.b64encode(v).decode('ascii') for k, v in _io.saved.items()}})
except _Refused as e:
    _fail('import', str(e))
except MemoryError:
    del _reserve
    _fail('memory', 'it allocated past its memory limit')
except SyntaxError as e:
    _fail('syntax', 'line %s: %s' % (e.lineno, e.msg))
except _Unmarshallable as e:
    _fail('result', str(e))
except BaseException as e:
    _line = _payload_line(e.__traceback__)
    _fail('exception', '%s%s: %s' % (type(e).__name__, '' if _line is None else ' (line %d)' % _line, e))
_out.close()
_os._exit(0)
`;
