//go:build linux && (mips || mipsle || mips64 || mips64le || sparc64)

package dns

// soReusePort is SO_REUSEPORT in the mips and sparc <asm/socket.h>.
const soReusePort = 0x200
