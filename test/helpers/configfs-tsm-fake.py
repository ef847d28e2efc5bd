#!/usr/bin/python3
"""A FUSE file system that behaves like Linux's configfs-tsm report directory
(/sys/kernel/config/tsm/report, Documentation/ABI/testing/configfs-tsm-report), replaying one REAL
report: a test for Tessera's attestation path on machines without SEV-SNP or TDX hardware.

  configfs-tsm-fake.py MOUNTPOINT --provider sev_guest --outblob REPORT [--vcek DER --ask-ark PEM]
  configfs-tsm-fake.py MOUNTPOINT --provider tdx_guest --outblob QUOTE

What it does, as the kernel does:
- `mkdir MOUNTPOINT/NAME` makes a report entry whose attribute files exist at once: inblob (write only,
  at most 64 bytes), outblob, provider, generation, and for sev_guest auxblob, privlevel and
  privlevel_floor. `rmdir` removes the entry with its files; no other file can be made.
- Writing inblob increments generation once per write (open, write, close), as configfs commits a
  binary attribute when the writer closes it. (Committed at the flush of close(2): FUSE sends the
  release after close returns, and a reader must see the new generation as soon as its write is done.)
- outblob is the stored real report, whatever inblob says (a replay cannot sign new report data).
- auxblob (sev_guest) is the GHCB certificate table (GHCB specification, MSG_REPORT_REQ extended
  request): 24-byte entries {GUID little-endian, offset u32, length u32} ending in an all-zero entry,
  then the DER certificates, offsets counted from the table's start: VCEK, ASK, ARK.
- Reading a write-only attribute, or opening a read-only one for writing, is refused with EACCES.

Control and events, one line each, for the test that runs it:
- stdout: `ready` once mounted; `inblob NAME HEX` when a write to inblob is committed; `ok` after a command.
- stdin: `race N`: each of the next N reads of outblob first sees another writer's inblob write (the
  entry's generation is incremented and its inblob replaced), which is the race `generation` exists to
  reveal.
Ended by SIGTERM to its process id: libfuse leaves its loop and unmounts. It does the same when its
stdin closes (the test that started it is gone).
"""
import argparse
import base64
import errno
import os
import re
import signal
import stat
import sys
import threading
import time
import uuid

from fusepy import FUSE, FuseOSError, Operations

GUIDS = {
    'vcek': '63da758d-e664-4564-adc5-f4b93be8accd',
    'ask': 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
    'ark': '4ab7b379-bbac-4fe4-a02f-05aef327c782',
}
INBLOB_MAX = 64


def pem_certificates(data):
    blocks = re.findall(rb'-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----', data, re.S)
    return [base64.b64decode(b'' .join(b.split())) for b in blocks]


def cert_table(certs):
    """certs: [(guid string, DER)] -> the GHCB certificate table."""
    header = 24 * (len(certs) + 1)
    entries, blobs, at = b'', b'', header
    for guid, der in certs:
        entries += uuid.UUID(guid).bytes_le + at.to_bytes(4, 'little') + len(der).to_bytes(4, 'little')
        blobs += der
        at += len(der)
    return entries + bytes(24) + blobs


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


class Entry:
    def __init__(self):
        self.inblob = b''
        self.generation = 0
        self.privlevel = 0
        self.made = time.time_ns()


class TsmReportFs(Operations):
    use_ns = True

    def __init__(self, provider, outblob, auxblob):
        self.provider = provider
        self.outblob = outblob
        self.auxblob = auxblob
        self.entries = {}
        self.handles = {}
        self.next_fh = 1
        self.races = 0
        self.mutex = threading.Lock()
        self.started = time.time_ns()
        # name: (readable, writable, binary)
        self.attributes = {'inblob': (False, True, True), 'outblob': (True, False, True), 'provider': (True, False, False), 'generation': (True, False, False)}
        if provider == 'sev_guest':
            self.attributes.update({'auxblob': (True, False, True), 'privlevel': (True, True, False), 'privlevel_floor': (True, False, False)})

    # --- paths
    def split(self, path):
        parts = [p for p in path.split('/') if p]
        if len(parts) > 2:
            raise FuseOSError(errno.ENOENT)
        if parts and parts[0] not in self.entries:
            raise FuseOSError(errno.ENOENT)
        if len(parts) == 2 and parts[1] not in self.attributes:
            raise FuseOSError(errno.ENOENT)
        return parts

    def init(self, path):
        say('ready')

    def getattr(self, path, fh=None):
        with self.mutex:
            parts = self.split(path)
            t = self.entries[parts[0]].made if parts else self.started
            if len(parts) < 2:
                return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_ctime=t, st_mtime=t, st_atime=t)
            readable, writable, binary = self.attributes[parts[1]]
            mode = (0o444 if readable else 0) | (0o200 if writable else 0)
            # Like sysfs: text attributes say one page, binary ones 0; either way a reader reads to the end.
            return dict(st_mode=stat.S_IFREG | mode, st_nlink=1, st_size=0 if binary else 4096, st_ctime=t, st_mtime=t, st_atime=t)

    def readdir(self, path, fh):
        with self.mutex:
            parts = self.split(path)
            if len(parts) == 2:
                raise FuseOSError(errno.ENOTDIR)
            names = list(self.attributes) if parts else list(self.entries)
            return ['.', '..'] + names

    def mkdir(self, path, mode):
        with self.mutex:
            parts = [p for p in path.split('/') if p]
            if len(parts) != 1:
                raise FuseOSError(errno.EPERM)
            if parts[0] in self.entries:
                raise FuseOSError(errno.EEXIST)
            self.entries[parts[0]] = Entry()

    def rmdir(self, path):
        with self.mutex:
            parts = self.split(path)
            if len(parts) != 1:
                raise FuseOSError(errno.EPERM if not parts else errno.ENOTDIR)
            del self.entries[parts[0]]

    def create(self, path, mode, fi=None):
        raise FuseOSError(errno.EPERM)

    def unlink(self, path):
        raise FuseOSError(errno.EPERM)

    def truncate(self, path, length, fh=None):
        # open(O_TRUNC) of a writable attribute: configfs ignores it.
        with self.mutex:
            parts = self.split(path)
            if len(parts) != 2 or not self.attributes[parts[1]][1]:
                raise FuseOSError(errno.EACCES)

    def open(self, path, flags):
        with self.mutex:
            parts = self.split(path)
            if len(parts) != 2:
                raise FuseOSError(errno.EISDIR)
            readable, writable, _ = self.attributes[parts[1]]
            mode = flags & os.O_ACCMODE
            if (mode in (os.O_RDONLY, os.O_RDWR) and not readable) or (mode in (os.O_WRONLY, os.O_RDWR) and not writable):
                raise FuseOSError(errno.EACCES)
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = {'entry': parts[0], 'name': parts[1], 'buffer': bytearray(), 'written': False}
            return fh

    def content(self, entry, name):
        e = self.entries[entry]
        if name == 'outblob':
            if self.races > 0:
                self.races -= 1
                e.inblob = os.urandom(INBLOB_MAX)
                e.generation += 1
            return self.outblob
        if name == 'auxblob':
            return self.auxblob
        if name == 'provider':
            return (self.provider + '\n').encode()
        if name == 'generation':
            return b'%d\n' % e.generation
        if name == 'privlevel':
            return b'%d\n' % e.privlevel
        if name == 'privlevel_floor':
            return b'0\n'
        raise FuseOSError(errno.EACCES)

    def read(self, path, size, offset, fh):
        with self.mutex:
            h = self.handles[fh]
            if h['entry'] not in self.entries:
                raise FuseOSError(errno.ENOENT)
            # One read of the whole value per open, as configfs fills its buffer at the first read.
            if 'value' not in h:
                h['value'] = self.content(h['entry'], h['name'])
            return h['value'][offset:offset + size]

    def write(self, path, data, offset, fh):
        with self.mutex:
            h = self.handles[fh]
            limit = INBLOB_MAX if h['name'] == 'inblob' else 4096
            if offset + len(data) > limit:
                raise FuseOSError(errno.EFBIG)
            buf = h['buffer']
            if len(buf) < offset:
                buf.extend(bytes(offset - len(buf)))
            buf[offset:offset + len(data)] = data
            h['written'] = True
            return len(data)

    def commit(self, fh):
        h = self.handles.get(fh)
        if not h or not h['written'] or h['entry'] not in self.entries:
            return
        h['written'] = False
        e = self.entries[h['entry']]
        if h['name'] == 'inblob':
            e.inblob = bytes(h['buffer'])
            say('inblob %s %s' % (h['entry'], e.inblob.hex()))
        elif h['name'] == 'privlevel':
            try:
                level = int(bytes(h['buffer']).decode().strip())
            except ValueError:
                raise FuseOSError(errno.EINVAL)
            if not 0 <= level <= 3:
                raise FuseOSError(errno.EINVAL)
            e.privlevel = level
        e.generation += 1

    def flush(self, path, fh):
        with self.mutex:
            self.commit(fh)
        return 0

    def release(self, path, fh):
        with self.mutex:
            self.commit(fh)
            self.handles.pop(fh, None)
        return 0

    def statfs(self, path):
        return dict(f_bsize=4096, f_namemax=255)


def control(fs):
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ['race'] and len(words) == 2:
            with fs.mutex:
                fs.races = int(words[1])
            say('ok')
        elif words:
            say('unknown command: ' + line.strip())
    # stdin closed: the test that started this is gone. Leave as on SIGTERM, unmounting, rather than
    # stay mounted with no one to end it.
    os.kill(os.getpid(), signal.SIGTERM)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mountpoint')
    ap.add_argument('--provider', choices=['sev_guest', 'tdx_guest'], required=True)
    ap.add_argument('--outblob', required=True, help='the real report (SEV-SNP) or quote (TDX), bytes as the kernel returns them')
    ap.add_argument('--vcek', help='the VCEK, DER (sev_guest)')
    ap.add_argument('--ask-ark', help="PEM: the ASK then the ARK, as AMD's KDS cert_chain gives them (sev_guest)")
    args = ap.parse_args()
    with open(args.outblob, 'rb') as f:
        outblob = f.read()
    auxblob = b''
    if args.vcek:
        with open(args.vcek, 'rb') as f:
            vcek = f.read()
        vcek = pem_certificates(vcek)[0] if b'-----BEGIN' in vcek else vcek
        certs = [(GUIDS['vcek'], vcek)]
        if args.ask_ark:
            with open(args.ask_ark, 'rb') as f:
                ask, ark = pem_certificates(f.read())[:2]
            certs += [(GUIDS['ask'], ask), (GUIDS['ark'], ark)]
        auxblob = cert_table(certs)
    fs = TsmReportFs(args.provider, outblob, auxblob)
    threading.Thread(target=control, args=(fs,), daemon=True).start()
    FUSE(fs, args.mountpoint, foreground=True, fsname='configfs-tsm-fake', subtype='tsm', direct_io=True,
         attr_timeout=0, entry_timeout=0, negative_timeout=0)


if __name__ == '__main__':
    main()
