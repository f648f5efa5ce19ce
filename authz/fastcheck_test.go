package authz_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/portcullis-authz/portcullis/authz"
)

// TestCheckCodecMatchesGeneratedService sends the same request bytes to
// the server (envoy.Codec, checkServiceDesc) and to a plain gRPC server
// serving the same Checker through the generated service and proto codec,
// over real sockets: the gRPC status and the decoded CheckResponse must
// be the same for requests the fast decoder takes, for those it leaves to
// the standard path, for malformed ones and for undecodable ones.
func TestCheckCodecMatchesGeneratedService(t *testing.T) {
	st := &store{}
	st.s.Store(snapshot(t))
	_, conn := start(t, st, zap.NewNop())
	ref := startGenerated(t, authz.NewChecker(st, zap.NewNop(), nil, testBudget))

	field := func(num protowire.Number, payload []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), payload)
	}
	allowed := marshalReq(t, checkReq("GET", "/public/items/42?page=2", map[string]string{"user-agent": "test"}))
	cases := map[string][]byte{
		"allow":             allowed,
		"deny":              marshalReq(t, checkReq("GET", "/admin/x", nil)),
		"no rule":           marshalReq(t, checkReq("GET", "/nowhere", nil)),
		"malformed (CRLF)":  marshalReq(t, checkReq("GET", "/public/a", map[string]string{"x-user": "a\r\nx-admin: 1"})),
		"merged attributes": append(append([]byte{}, allowed...), field(1, field(4, field(2, field(4, []byte("/admin/x")))))...),
		"undecodable":       allowed[:len(allowed)-2],
		"empty":             nil,
		"invalid UTF-8":     append(append([]byte{}, allowed...), field(1, field(4, field(2, field(2, []byte("G\xffT")))))...),
	}
	for _, name := range []string{"SYNTHESIZED-modern-envoy-grpc-headers.json", "SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json", "opa-docs-primer-v3-input.json"} {
		data, err := os.ReadFile(filepath.Join("..", "envoy", "testdata", "checkrequests", name))
		if err != nil {
			t.Fatal(err)
		}
		req := &authv3.CheckRequest{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, req); err != nil {
			t.Fatal(err)
		}
		cases[name] = marshalReq(t, req)
	}

	for name, wire := range cases {
		t.Run(name, func(t *testing.T) {
			got, gotErr := invokeRaw(conn, wire)
			want, wantErr := invokeRaw(ref, wire)
			if status.Code(gotErr) != status.Code(wantErr) {
				t.Fatalf("status %v, generated service %v", gotErr, wantErr)
			}
			undecodable := name == "undecodable" || name == "invalid UTF-8"
			if undecodable != (wantErr != nil) {
				t.Fatalf("generated service: %v", wantErr)
			}
			if name == "allow" && got.GetStatus().GetCode() != 0 {
				t.Fatalf("not allowed: %v", got.GetStatus())
			}
			if wantErr != nil {
				return
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Fatalf("response differs from the generated service's (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReflectionDescribesCheck checks that the hand-written service
// description still resolves through reflection to the Envoy proto file.
func TestReflectionDescribesCheck(t *testing.T) {
	_, conn := start(t, &store{}, zap.NewNop())
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: authz.AuthorizationService,
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("no descriptor for %s: %v", authz.AuthorizationService, resp.GetErrorResponse())
	}
}

// startGenerated serves c through the generated Authorization service on
// a plain gRPC server on a loopback port.
func startGenerated(t *testing.T, c *authz.Checker) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, c)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return conn
}

// invokeRaw calls Check with wire as the request bytes and decodes the
// response.
func invokeRaw(conn *grpc.ClientConn, wire []byte) (*authv3.CheckResponse, error) {
	var out []byte
	if err := conn.Invoke(context.Background(), "/"+authz.AuthorizationService+"/Check", &wire, &out, grpc.ForceCodecV2(rawCodec{})); err != nil {
		return nil, err
	}
	resp := &authv3.CheckResponse{}
	if err := proto.Unmarshal(out, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// rawCodec sends and receives *[]byte as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func marshalReq(t *testing.T, req *authv3.CheckRequest) []byte {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
