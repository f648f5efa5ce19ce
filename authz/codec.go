package authz

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/portcullis-authz/portcullis/envoy"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// checkCall is one Check call as checkCodec handles it: the request read
// from the wire (envoy.ReadCheckRequest) and, once setReply has encoded
// the decision, the reply to send. One allocation holds the request, the
// values of up to callHeaderValues headers and the reply's buffer slice.
type checkCall struct {
	req       pipeline.Request // zero when malformed is set
	malformed error            // ToRequest's error: a 400 denial

	vals  [callHeaderValues]string // backs req.Header's values
	reply *[]byte                  // from replies
	out   [1]mem.Buffer            // what Marshal hands to gRPC
}

// callHeaderValues is how many header values a checkCall holds itself:
// more than a typical request through Envoy carries.
const callHeaderValues = 24

// setReply encodes ToCheckResponse(d) as the reply
// (envoy.AppendCheckResponse), in a buffer of replies, which gRPC puts
// back once it has written it.
func (c *checkCall) setReply(d *pipeline.Decision) {
	if c.reply == nil {
		c.reply = replies.Get(0)
	}
	*c.reply = envoy.AppendCheckResponse((*c.reply)[:0], d)
}

// replies recycles reply buffers.
var replies = &replyPool{}

const (
	// replyBufSize is the capacity of a new reply buffer: a typical
	// response (a few headers, dynamic metadata) fits, and it is above
	// mem's pooling threshold (1 KiB), below which mem.NewBuffer does not
	// give buffers back.
	replyBufSize = 2048
	// maxPooledReply is the largest reply buffer kept for reuse.
	maxPooledReply = 64 << 10
)

// replyPool is a mem.BufferPool for replies. Unlike gRPC's default pool
// it does not zero a buffer it hands out (a 4 KiB clear per reply): a
// reply is written from its first byte, and only what was written is
// sent.
type replyPool struct{ p sync.Pool }

// Get returns a buffer of length n.
func (rp *replyPool) Get(n int) *[]byte {
	if b, ok := rp.p.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, max(n, replyBufSize))
	return &b
}

// Put keeps b for a later reply unless it is too large to hold on to.
func (rp *replyPool) Put(b *[]byte) {
	if cap(*b) <= maxPooledReply {
		rp.p.Put(b)
	}
}

// checkCodec is the server's gRPC codec. It serves Check without the
// generated messages: it reads a *checkCall's request with
// envoy.ReadCheckRequest and sends its reply's bytes. Every other message
// (health, reflection) goes through gRPC's own proto codec, so other
// services are unchanged. Its name is "proto", the content-subtype Envoy
// sends.
type checkCodec struct{}

var _ encoding.CodecV2 = checkCodec{}

// protoCodec is gRPC's proto codec, registered by the init of its
// package, which runs before this package's variables are set.
var protoCodec = encoding.GetCodecV2(grpcproto.Name)

func (checkCodec) Name() string { return grpcproto.Name }

func (checkCodec) Marshal(v any) (mem.BufferSlice, error) {
	c, ok := v.(*checkCall)
	if !ok {
		return protoCodec.Marshal(v)
	}
	if c.reply == nil {
		return nil, errors.New("check call: no reply to send")
	}
	// gRPC frees the buffer once written, back to the pool: the call
	// gives it up, so a reply is sent once.
	c.out[0] = mem.NewBuffer(c.reply, replies)
	c.reply = nil
	return c.out[:], nil
}

func (checkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c, ok := v.(*checkCall)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	// One buffer as it is, several joined into a pooled one; either is
	// freed on return, as nothing read refers to it.
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	var err error
	if c.malformed, err = envoy.ReadCheckRequest(buf.ReadOnlyData(), &c.req, c.vals[:]); err != nil {
		return fmt.Errorf("decode CheckRequest: %w", err)
	}
	return nil
}
