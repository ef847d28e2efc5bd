// A seccomp filter for function processes, handed to bubblewrap (`--seccomp FD`), which installs it just
// before it starts the function. It refuses, with EPERM, the system calls that reach kernel surfaces a
// function has no use for and that sandbox escapes go through: debugging other processes, loading kernel
// code or BPF programs, performance counters, userfaultfd, the kernel keyring, mounts, new namespaces,
// io_uring, and setting clocks. clone3 answers ENOSYS so that C libraries fall back to clone, whose
// namespace flags can be checked (clone3 passes them in memory a filter cannot read). The selection
// follows the calls Docker's default profile refuses. System-call numbers are x86_64's
// (asm/unistd_64.h); on another architecture no filter is made and the node says so.

/** A classic BPF instruction (struct sock_filter): code, jump if true, jump if false, constant. */
type Insn = [code: number, jt: number, jf: number, k: number];

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number) => 0x00050000 | errno;
const EPERM = 1;
const ENOSYS = 38;

/** Offsets in struct seccomp_data. */
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16;

const AUDIT_ARCH_X86_64 = 0xc000003e;
/** System calls of the x32 ABI carry this bit; they are refused as a whole. */
const X32_SYSCALL_BIT = 0x40000000;

/** x86_64 numbers of the refused calls. */
const DENIED_X86_64: Record<string, number> = {
  ptrace: 101,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kexec_load: 246,
  kexec_file_load: 320,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  bpf: 321,
  perf_event_open: 298,
  userfaultfd: 323,
  keyctl: 250,
  add_key: 248,
  request_key: 249,
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  unshare: 272,
  setns: 308,
  open_by_handle_at: 304,
  name_to_handle_at: 303,
  acct: 163,
  settimeofday: 164,
  clock_settime: 227,
  clock_adjtime: 305,
  adjtimex: 159,
  iopl: 172,
  ioperm: 173,
  syslog: 103,
  lookup_dcookie: 212,
  quotactl: 179,
  vhangup: 153,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
};
const CLONE = 56;
const CLONE3 = 435;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
const CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

/** The system calls the filter refuses, by name (for docs and tests). */
export const DENIED_SYSCALLS = Object.keys(DENIED_X86_64);

/** The filter as bytes for bubblewrap's --seccomp, or null where this architecture has no table. */
export function seccompProgram(arch = process.arch): Buffer | null {
  if (arch !== 'x64') return null;
  const prog: Insn[] = [
    [LD_W_ABS, 0, 0, ARCH],
    [JEQ_K, 1, 0, AUDIT_ARCH_X86_64],
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [LD_W_ABS, 0, 0, NR],
    [JGE_K, 0, 1, X32_SYSCALL_BIT],
    [RET_K, 0, 0, retErrno(EPERM)],
  ];
  for (const nr of Object.values(DENIED_X86_64)) prog.push([JEQ_K, 0, 1, nr], [RET_K, 0, 0, retErrno(EPERM)]);
  prog.push([JEQ_K, 0, 1, CLONE3], [RET_K, 0, 0, retErrno(ENOSYS)]);
  // clone with any CLONE_NEW* flag (its first argument) is refused; every other call is allowed.
  prog.push([JEQ_K, 0, 3, CLONE], [LD_W_ABS, 0, 0, ARG0_LOW], [JSET_K, 0, 1, CLONE_NEW_ANY], [RET_K, 0, 0, retErrno(EPERM)], [RET_K, 0, 0, RET_ALLOW]);
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}
