//go:build !linux

package procfs

import (
	"errors"
	"fmt"
	"runtime"
)

var errUnsupported = fmt.Errorf("the process tree is read from Linux's /proc, which %s lacks: %w", runtime.GOOS, errors.ErrUnsupported)

// Supported says why this platform cannot read the process tree; callers
// check it first so that Alive's false is not taken for a dead process.
func Supported() error { return errUnsupported }

// Children is unsupported off Linux.
func Children(int) ([]int, error) { return nil, errUnsupported }

// Alive is unsupported off Linux and reports false.
func Alive(int) bool { return false }
