package services

import (
	"context"
	"reflect"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// publishLoop calls Publish at start and after every change, with the
// latest state: at once after a quiet period (leading edge), then at most
// once per MinPublishInterval while changes keep coming, so a check that
// flaps every few milliseconds costs at most 1/MinPublishInterval calls a
// second. A state equal to the one last published is not sent again.
func (r *Registry) publishLoop(ctx context.Context) {
	if r.opts.Publish == nil {
		<-ctx.Done()
		return
	}
	var (
		last     time.Time // of the last Publish call
		sent     []node.Service
		sentNode []node.CheckState
		pending  = true // publish the initial state
		timer    = time.NewTimer(0)
	)
	defer timer.Stop()
	<-timer.C
	for {
		if pending {
			if wait := r.opts.MinPublishInterval - time.Since(last); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-r.dirty: // already pending
					timer.Stop()
					continue
				case <-timer.C:
				}
			}
			pending = false
			svcs, nodeChecks := r.Catalog()
			if last.IsZero() || !reflect.DeepEqual(svcs, sent) || !reflect.DeepEqual(nodeChecks, sentNode) {
				last = time.Now()
				if err := r.opts.Publish(svcs, nodeChecks); err != nil {
					r.logger.Error("publish services", "err", err)
				} else {
					sent, sentNode = svcs, nodeChecks
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.dirty:
			pending = true
		}
	}
}
