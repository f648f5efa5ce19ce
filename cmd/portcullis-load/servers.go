package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/portcullis-authz/portcullis/authz"
	svcconfig "github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// serveArg is the hidden first argument with which compare re-executes
// this binary as a server child: `portcullis-load __serve noop|portcullis
// <scenario> <dir>`. Running servers as children lets compare read each
// server's own CPU time, apart from the load generator's.
const serveArg = "__serve"

// noopServer answers every Check with OK and nothing else: the floor an
// ext_authz server built from the same protos cannot go below.
type noopServer struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &status.Status{}}, nil
}

// scenario is one named comparison: the rules Portcullis serves and the
// request the load generator sends.
type scenario struct {
	Name  string
	About string
	rules func(dir string) string // rules YAML; dir holds the JWKS
	path  string
	// jwt: send a bearer token signed by the key in dir.
	jwt bool
}

const scenarioConfig = `
log: {level: info}
authenticators: {anonymous: {enabled: true}, jwt: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {header: {enabled: true}}
`

func anonymousRules(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `- id: r%05d
  match: {url: "<http|https>://demo/svc-%05d/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
`, i, i)
	}
	return b.String()
}

var scenarios = []scenario{
	{Name: "anonymous", About: "anonymous → allow → header {{ print .Subject }}", path: "/svc-00000/x",
		rules: func(string) string { return anonymousRules(1) }},
	{Name: "jwt", About: "jwt (RS256, cached, JWKS file) → allow → header {{ print .Extra.tenant }}", path: "/orders/42", jwt: true,
		rules: func(dir string) string {
			return `- id: orders
  match: {url: "<http|https>://demo/orders/<[0-9]+>", methods: [GET]}
  authenticators: [{handler: jwt, config: {jwks_urls: ["file://` + filepath.Join(dir, "jwks.json") + `"], trusted_issuers: [https://idp.test], target_audience: [api://gw]}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}", X-Tenant: "{{ print .Extra.tenant }}"}}}]
`
		}},
	{Name: "rules-10", About: "anonymous → allow → header, 10 rules, the 6th matches", path: "/svc-00005/x",
		rules: func(string) string { return anonymousRules(10) }},
	{Name: "rules-1000", About: "anonymous → allow → header, 1,000 rules, the 501st matches", path: "/svc-00500/x",
		rules: func(string) string { return anonymousRules(1000) }},
}

func findScenario(name string) (scenario, error) {
	var names []string
	for _, s := range scenarios {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return scenario{}, fmt.Errorf("scenario %q: want one of %s", name, strings.Join(names, ", "))
}

// serveChild is the child process: it serves kind on a loopback port,
// writes the address as the first line of stdout, and stops when stdin
// closes (the parent ended or died).
func serveChild(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: __serve noop|portcullis <scenario> <dir>")
	}
	kind, name, dir := args[0], args[1], args[2]
	var srv interface {
		Serve(context.Context, net.Listener) error
	}
	switch kind {
	case "noop":
		srv = grpcServe{grpc.NewServer()}
		authv3.RegisterAuthorizationServer(srv.(grpcServe).s, noopServer{})
	case "portcullis":
		sc, err := findScenario(name)
		if err != nil {
			return err
		}
		g, err := portcullisServer(sc, dir)
		if err != nil {
			return err
		}
		srv = g
	default:
		return fmt.Errorf("server kind %q: want noop or portcullis", kind)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(lis.Addr().String())
	return srv.Serve(ctx, lis)
}

// grpcServe adapts a *grpc.Server to Serve(ctx, lis).
type grpcServe struct{ s *grpc.Server }

func (g grpcServe) Serve(ctx context.Context, lis net.Listener) error {
	go func() {
		<-ctx.Done()
		g.s.Stop()
	}()
	return g.s.Serve(lis)
}

// portcullisServer builds the real gRPC server with sc's rules and a
// decision logger at info, Portcullis's default level, encoding JSON lines
// as the service does (to io.Discard, so the terminal is not the cost).
func portcullisServer(sc scenario, dir string) (*authz.GRPCServer, error) {
	deps := builtin.NewDeps(nil)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	cfg, _, err := svcconfig.Load("compare.yaml", []byte(scenarioConfig), nil)
	if err != nil {
		return nil, err
	}
	specs, err := rulestore.DecodeRules("rules.yaml", []byte(sc.rules(dir)))
	if err != nil {
		return nil, err
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	store := rulestore.NewStore(cfg.Pipeline(), reg, log)
	if err := store.Apply(specs, "v1"); err != nil {
		return nil, err
	}
	checker := authz.NewChecker(store, log, nil)
	srv := authz.NewGRPCServer(checker, log, authz.GRPCOptions{StopTimeout: time.Second})
	srv.SetServing(true)
	return srv, nil
}

// writeKeys writes an RS256 JWKS to dir/jwks.json and returns a token it
// verifies, valid for a day, with a tenant claim.
func writeKeys(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": enc.EncodeToString(key.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		return "", err
	}
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss": "https://idp.test", "aud": "api://gw", "sub": "alice", "tenant": "acme",
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	})
	if err != nil {
		return "", err
	}
	signed := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// readAddr reads the child's first stdout line.
func readAddr(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("server child did not report its address: %w", err)
	}
	return strings.TrimSpace(line), nil
}
