package node

import (
	"reflect"
	"testing"
	"time"
)

func TestCodec_RoundTrip(t *testing.T) {
	msgs := []struct {
		typ     messageType
		in, out message
	}{
		{msgJoinIntent, &joinIntent{LTime: 7, Node: "a"}, &joinIntent{}},
		{msgLeaveIntent, &leaveIntent{LTime: 9, Node: "b", Prune: true}, &leaveIntent{}},
		{msgUserEvent, &userEventMsg{LTime: 3, Prev: 2, Name: "deploy", Payload: []byte("v1"), Coalesce: true}, &userEventMsg{}},
		{msgQuery, &queryMsg{LTime: 1, ID: 42, Addr: []byte{127, 0, 0, 1}, Port: 7946, SourceNode: "a",
			FilterNodes: []string{"x", "y"}, FilterTags: map[string]string{"role": "web"}, Flags: queryFlagAck,
			Timeout: time.Second, Name: "load", Payload: []byte("p"), RelayFactor: 2}, &queryMsg{}},
		{msgRelay, &relayMsg{DestAddr: []byte{127, 0, 0, 1}, DestPort: 7946, DestName: "a", Msg: []byte{5, 1}}, &relayMsg{}},
		{msgQueryResponse, &queryResponseMsg{LTime: 1, ID: 42, From: "b", Ack: true, Payload: []byte("r")}, &queryResponseMsg{}},
		{msgPushPull, &pushPullMsg{LTime: 5, StatusLTimes: map[string]LamportTime{"a": 1, "b": 2}, LeftMembers: []string{"b"},
			EventLTime: 4, Events: []userEventMsg{{LTime: 2, Name: "e", Payload: []byte("x")}}, QueryLTime: 8}, &pushPullMsg{}},
	}
	for _, m := range msgs {
		buf := encodeMessage(m.typ, m.in)
		if messageType(buf[0]) != m.typ {
			t.Fatalf("%s: type byte %d", m.typ, buf[0])
		}
		if err := decodeMessage(buf[1:], m.out); err != nil {
			t.Fatalf("%s: %v", m.typ, err)
		}
		if !reflect.DeepEqual(m.in, m.out) {
			t.Errorf("%s: got %+v, want %+v", m.typ, m.out, m.in)
		}
		// Every truncation is an error, never a panic.
		for i := 1; i < len(buf)-1; i++ {
			decodeMessage(buf[1:i], m.out)
		}
	}
}

func TestMeta_RoundTripAndLimit(t *testing.T) {
	tags := map[string]string{"role": "web", "dc": "east"}
	buf, err := encodeMeta(tags)
	if err != nil {
		t.Fatal(err)
	}
	gotTags, err := decodeMeta(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotTags, tags) {
		t.Errorf("round trip: got %v", gotTags)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"a b": "x"}, {"k": "line\nbreak"}} {
		if _, err := encodeMeta(bad); err == nil {
			t.Errorf("tags %q accepted", bad)
		}
	}
}

func FuzzDecodeMessages(f *testing.F) {
	f.Add(encodeMessage(msgQuery, &queryMsg{Name: "x", FilterTags: map[string]string{"a": "b"}}))
	f.Add(encodeMessage(msgPushPull, &pushPullMsg{StatusLTimes: map[string]LamportTime{"a": 1}}))
	f.Add(encodeMessage(msgRelay, &relayMsg{DestName: "a", Msg: []byte{5}}))
	f.Add([]byte{1, 2, 3})
	meta, _ := encodeMeta(map[string]string{"role": "web"})
	f.Add(meta)
	f.Fuzz(func(t *testing.T, buf []byte) {
		for _, m := range []message{&joinIntent{}, &leaveIntent{}, &userEventMsg{}, &queryMsg{}, &queryResponseMsg{}, &pushPullMsg{}, &keyResult{}, &relayMsg{}} {
			decodeMessage(buf, m)
		}
		// Remote meta is accepted only if this node could have sent it.
		if tags, err := decodeMeta(buf); err == nil {
			if _, err := encodeMeta(tags); err != nil {
				t.Errorf("decodeMeta accepted %q, which encodeMeta refuses: %v", buf, err)
			}
		}
	})
}
