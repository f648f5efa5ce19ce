package authz

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// checkServiceDesc serves envoy.service.auth.v3.Authorization like the
// generated authv3.Authorization_ServiceDesc (same names and proto file,
// so reflection describes it), but its Check handler works on the
// checkCodec form: a *checkCall read straight from the wire, which then
// carries the encoded reply. Unary interceptors see that type as request
// and response.
var checkServiceDesc = grpc.ServiceDesc{
	ServiceName: AuthorizationService,
	HandlerType: (*authv3.AuthorizationServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    authv3.Authorization_ServiceDesc.Metadata,
}

// checkHandler is the grpc.MethodDesc handler of Check.
func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(checkCall)
	if err := dec(in); err != nil {
		return nil, err
	}
	c := srv.(*Checker)
	if interceptor == nil {
		return c.checkWire(ctx, in), nil
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: checkMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return c.checkWire(ctx, req.(*checkCall)), nil
	})
}

// checkWire is Check for a request checkCodec decoded: the same decision,
// encoded straight to the wire as in's reply.
func (c *Checker) checkWire(ctx context.Context, in *checkCall) *checkCall {
	d := c.final(ctx, &in.req, in.malformed)
	in.setReply(&d)
	// The reply is bytes and the line is logged: the session can serve
	// the next check.
	d.Release()
	return in
}
