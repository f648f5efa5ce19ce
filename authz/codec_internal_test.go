package authz

import (
	"testing"

	"google.golang.org/grpc/mem"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestCheckCodecReply checks the reply's life: Marshal hands gRPC a
// pooled buffer (mem.NewBuffer pools only buffers above its threshold,
// so replyBufSize must stay above it) holding the encoded decision, and
// a call's reply is sent once.
func TestCheckCodecReply(t *testing.T) {
	c := &checkCall{}
	if _, err := (checkCodec{}).Marshal(c); err == nil {
		t.Fatal("Marshal of a call without a reply: no error")
	}
	d := &pipeline.Decision{Allowed: true, RuleID: "r", Reason: "allowed"}
	c.setReply(d)
	want := string(*c.reply)
	out, err := (checkCodec{}).Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || string(out.Materialize()) != want {
		t.Fatalf("Marshal sent %q, want the encoded reply %q", out.Materialize(), want)
	}
	if _, pooled := out[0].(mem.SliceBuffer); pooled {
		t.Fatalf("reply buffer of capacity %d is below mem's pooling threshold: it never returns to the pool", replyBufSize)
	}
	out.Free()
	if _, err := (checkCodec{}).Marshal(c); err == nil {
		t.Fatal("second Marshal of one reply: no error")
	}
}

// TestReplyPool checks that replyPool hands out buffers of the asked
// length and never keeps one too large to hold on to.
func TestReplyPool(t *testing.T) {
	var p replyPool
	b := p.Get(10)
	if len(*b) != 10 || cap(*b) < replyBufSize {
		t.Fatalf("Get(10): len %d cap %d", len(*b), cap(*b))
	}
	if b := p.Get(maxPooledReply * 2); len(*b) != maxPooledReply*2 {
		t.Fatalf("Get of a large buffer: len %d", len(*b))
	}
	big := make([]byte, 0, maxPooledReply+1)
	p.Put(&big) // dropped: the pool must not hand it out
	for range 10 {
		if b := p.Get(0); cap(*b) > maxPooledReply {
			t.Fatalf("pool kept a buffer of capacity %d", cap(*b))
		}
	}
}
