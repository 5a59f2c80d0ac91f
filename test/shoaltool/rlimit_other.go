//go:build !unix

package main

import "errors"

// raiseNofile: file-descriptor limits are a Unix notion; the floods this
// tool runs are for Linux hosts.
func raiseNofile(uint64) (uint64, error) {
	return 0, errors.ErrUnsupported
}
