//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !sparc64

package dns

// soReusePort is SO_REUSEPORT in <asm-generic/socket.h>.
const soReusePort = 0xf
