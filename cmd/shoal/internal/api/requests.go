package api

import (
	"errors"
	"fmt"
)

// checkedBody is a request body that can refuse itself: decode answers 400
// with check's error, so a handler starts from a body it can use.
type checkedBody interface{ check() error }

var (
	_ checkedBody = JoinRequest{}
	_ checkedBody = ForceLeaveRequest{}
	_ checkedBody = EventRequest{}
	_ checkedBody = QueryRequest{}
	_ checkedBody = MaintenanceRequest{}
	_ checkedBody = CheckUpdate{}
)

func (r JoinRequest) check() error {
	if len(r.Addrs) == 0 {
		return errors.New("no addresses to join")
	}
	return nil
}

func (r ForceLeaveRequest) check() error { return required(r.Node, "no node named") }
func (r EventRequest) check() error      { return required(r.Name, "event has no name") }
func (r QueryRequest) check() error      { return required(r.Name, "query has no name") }

func (r MaintenanceRequest) check() error { return noteLen("maintenance: reason", r.Reason) }
func (r CheckUpdate) check() error        { return noteLen("check: note", r.Note) }

func required(v, missing string) error {
	if v == "" {
		return errors.New(missing)
	}
	return nil
}

// noteLen bounds a note or reason to maxNoteLen bytes.
func noteLen(what, s string) error {
	if len(s) > maxNoteLen {
		return fmt.Errorf("%s is %d bytes, at most %d", what, len(s), maxNoteLen)
	}
	return nil
}
