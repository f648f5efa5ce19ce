package examples_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/authz"
	svcconfig "github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// kubeKinds are the Kubernetes objects the examples may use, each decoded
// into its API type. A kind not listed fails the test: add it here (and
// its checks) rather than let a manifest go unchecked.
var kubeKinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
}

// decodeStrict decodes one YAML document as the API server does with
// strict field validation: field names match case-sensitively (Go's
// encoding/json would take readOnlyRootFileSystem for
// readOnlyRootFilesystem), and unknown or duplicate fields fail.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, v)
	return errors.Join(append(strictErrs, err)...)
}

// yamlDocuments splits a file into its YAML documents, dropping empty ones.
func yamlDocuments(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

// kubeObjects decodes every document of a Kubernetes example strictly
// (unknown or duplicate fields fail, as kubectl's server-side field
// validation does) into its API type.
func kubeObjects(t *testing.T, file string) []any {
	t.Helper()
	var objs []any
	for i, doc := range yamlDocuments(t, file) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: document %d: %v", file, i+1, err)
		}
		newObj, ok := kubeKinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			t.Fatalf("%s: document %d: %s %s is not a kind this test checks", file, i+1, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		if err := decodeStrict(doc, obj); err != nil {
			t.Fatalf("%s: document %d (%s): %v", file, i+1, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// kubeExamples are the Kubernetes examples (sorted), each checked by its
// own test.
var kubeExamples = []string{"kubernetes/fleet.yaml", "kubernetes/portcullis.yaml"}

// TestEveryKubernetesExampleIsChecked: a new file in examples/kubernetes
// needs its test (and its strict decoding) before it ships.
func TestEveryKubernetesExampleIsChecked(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || !slices.Equal(files, kubeExamples) {
		t.Fatalf("examples/kubernetes holds %v, the tests check %v", files, kubeExamples)
	}
}

// only returns the single object of type T.
func only[T any](t *testing.T, objs []any) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want exactly one %T in examples/kubernetes, got %d", zero, len(found))
	}
	return found[0]
}

// serviceLinkEnv is what the kubelet injects into every container of a
// pod for a Service of its namespace unless enableServiceLinks is false:
// NAME_SERVICE_HOST, NAME_PORT and the rest of the Docker-link variables.
func serviceLinkEnv(svc *corev1.Service) []string {
	const ip = "10.96.0.10"
	name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
	first := svc.Spec.Ports[0]
	env := []string{
		fmt.Sprintf("%s_SERVICE_HOST=%s", name, ip),
		fmt.Sprintf("%s_SERVICE_PORT=%d", name, first.Port),
		fmt.Sprintf("%s_PORT=%s://%s:%d", name, strings.ToLower(string(first.Protocol)), ip, first.Port),
	}
	for _, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, proto)
		env = append(env,
			fmt.Sprintf("%s_SERVICE_PORT_%s=%d", name, strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), p.Port),
			fmt.Sprintf("%s=%s://%s:%d", prefix, strings.ToLower(proto), ip, p.Port),
			fmt.Sprintf("%s_PROTO=%s", prefix, strings.ToLower(proto)),
			fmt.Sprintf("%s_PORT=%d", prefix, p.Port),
			fmt.Sprintf("%s_ADDR=%s", prefix, ip))
	}
	return env
}

// podEnviron is the environment the container starts with: service links
// (unless turned off) and the container's own env, valueFrom entries
// given a sample value.
func podEnviron(spec *corev1.PodSpec, c *corev1.Container, services []*corev1.Service) []string {
	var env []string
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		for _, svc := range services {
			env = append(env, serviceLinkEnv(svc)...)
		}
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = "10.0.0.7" // a pod IP, a limit: any value of the right shape
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// containerPort returns the containerPort for a port name or number.
func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, p.StrVal)
	return 0
}

// compileExample loads a config with the real loader under environ and
// compiles the rules against it.
func compileExample(t *testing.T, where string, config, rules []byte, environ []string) *svcconfig.Config {
	t.Helper()
	cfg, warnings, err := svcconfig.Load(where+":config.yaml", config, environ)
	if err != nil {
		t.Fatalf("the config does not load in the pod's environment:\n%v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("%s: config warnings: %v", where, warnings)
	}
	specs, err := rulestore.DecodeRules(where+":rules.yaml", rules)
	if err != nil {
		t.Fatal(err)
	}
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	if err := cfg.CheckHandlers(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Compile(specs, cfg.Pipeline(), reg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// dockerfileUser is the image's USER uid.
func dockerfileUser(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER\s+(\d+)(?::\d+)?\s*$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("Dockerfile: no numeric USER")
	}
	uid, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return uid
}

// TestKubernetesManifests decodes every Kubernetes example strictly and
// checks what the manifest promises: Pod Security "restricted" (by the
// admission controller's own checks), the probes, resources, spreading,
// disruption budget and autoscaler, the Service, and a ConfigMap whose
// config and rules load and compile in the pod's environment.
func TestKubernetesManifests(t *testing.T) {
	objs := kubeObjects(t, "kubernetes/portcullis.yaml")
	ns := only[*corev1.Namespace](t, objs)
	sa := only[*corev1.ServiceAccount](t, objs)
	cm := only[*corev1.ConfigMap](t, objs)
	dep := only[*appsv1.Deployment](t, objs)
	svc := only[*corev1.Service](t, objs)
	pdb := only[*policyv1.PodDisruptionBudget](t, objs)
	hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, objs)
	pod := &dep.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := &pod.Spec.Containers[0]

	t.Run("everything in the namespace", func(t *testing.T) {
		for _, m := range []metav1.ObjectMeta{sa.ObjectMeta, cm.ObjectMeta, dep.ObjectMeta, svc.ObjectMeta, pdb.ObjectMeta, hpa.ObjectMeta} {
			if m.Namespace != ns.Name {
				t.Errorf("%s is in namespace %q, want %q", m.Name, m.Namespace, ns.Name)
			}
		}
		if ns.Labels[psaapi.EnforceLevelLabel] != string(psaapi.LevelRestricted) {
			t.Errorf("namespace label %s = %q, want restricted", psaapi.EnforceLevelLabel, ns.Labels[psaapi.EnforceLevelLabel])
		}
	})

	t.Run("pod security restricted", func(t *testing.T) {
		eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
		if err != nil {
			t.Fatal(err)
		}
		res := psapolicy.AggregateCheckResults(eval.EvaluatePod(
			psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec))
		if !res.Allowed {
			t.Fatalf("violates Pod Security restricted: %s: %s", res.ForbiddenReason(), res.ForbiddenDetail())
		}
		// Pinned beyond the policy's minimum: the image's numeric user, a
		// read-only root, no service account token.
		sc := c.SecurityContext
		uid := dockerfileUser(t)
		switch {
		case sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Error("container: runAsNonRoot must be true")
		case sc.RunAsUser == nil || *sc.RunAsUser != uid:
			t.Errorf("container: runAsUser must be the image's USER %d", uid)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Error("container: allowPrivilegeEscalation must be false")
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Error("container: readOnlyRootFilesystem must be true")
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Error("container: capabilities must drop ALL and add none")
		case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Error("container: seccompProfile must be RuntimeDefault")
		}
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken ||
			pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Error("automountServiceAccountToken must be false on the ServiceAccount and the pod: Portcullis never calls the API server")
		}
		if pod.Spec.ServiceAccountName != sa.Name {
			t.Errorf("serviceAccountName %q, want %q", pod.Spec.ServiceAccountName, sa.Name)
		}
	})

	// The config as the container sees it: the pod's environment applies
	// (PORTCULLIS_ variables are overrides), and it must still load.
	cfg := compileExample(t, "examples/kubernetes ConfigMap", []byte(cm.Data["config.yaml"]), []byte(cm.Data["rules.yaml"]),
		podEnviron(&pod.Spec, c, []*corev1.Service{svc}))

	t.Run("config", func(t *testing.T) {
		if cfg.Serve.GRPC.Reflection {
			t.Error("serve.grpc.reflection must be off in the example")
		}
		// The metrics listener also serves /debug/pprof: loopback only.
		if ip := net.ParseIP(cfg.Serve.Metrics.Host); ip == nil || !ip.IsLoopback() {
			t.Errorf("serve.metrics.host %q exposes /debug/pprof beyond the pod; want a loopback address", cfg.Serve.Metrics.Host)
		}
		// The config file and the rules folder are where the mounts put them.
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly {
				t.Errorf("volume %s is mounted writable", m.Name)
			}
			mounts[m.Name] = m
		}
		i := slices.Index(c.Args, "--config")
		if len(c.Args) == 0 || c.Args[0] != "serve" || i < 0 || i+1 >= len(c.Args) {
			t.Fatalf("args %q: want serve --config <file>", c.Args)
		}
		if want := filepath.Join(mounts["config"].MountPath, "config.yaml"); c.Args[i+1] != want {
			t.Errorf("--config %s, but the ConfigMap's config.yaml is mounted at %s", c.Args[i+1], want)
		}
		if want := []string{"file://" + mounts["rules"].MountPath + "/"}; !slices.Equal(cfg.AccessRules.Repositories, want) {
			t.Errorf("access_rules.repositories %q, want the rules mount %q", cfg.AccessRules.Repositories, want)
		}
	})

	t.Run("probes", func(t *testing.T) {
		// Ready: the gRPC health service Envoy also checks, on the port the
		// config listens on.
		rp := c.ReadinessProbe
		if rp == nil || rp.GRPC == nil {
			t.Fatal("readinessProbe must be a gRPC probe")
		}
		if int(rp.GRPC.Port) != cfg.Serve.GRPC.Port || rp.GRPC.Service == nil || *rp.GRPC.Service != authz.AuthorizationService {
			t.Errorf("readinessProbe grpc %d %v, want port %d service %s", rp.GRPC.Port, rp.GRPC.Service, cfg.Serve.GRPC.Port, authz.AuthorizationService)
		}
		// Alive: the process answers, whatever its readiness.
		lp := c.LivenessProbe
		if lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/health/alive" {
			t.Fatal("livenessProbe must GET /health/alive")
		}
		if port := containerPort(t, c, lp.HTTPGet.Port); int(port) != cfg.Serve.API.Port {
			t.Errorf("livenessProbe port %d, the API listens on %d", port, cfg.Serve.API.Port)
		}
		for name, p := range map[string]*corev1.Probe{"readiness": rp, "liveness": lp} {
			if p.TimeoutSeconds == 0 || p.PeriodSeconds == 0 || p.FailureThreshold == 0 {
				t.Errorf("%sProbe: set timeoutSeconds, periodSeconds and failureThreshold", name)
			}
		}
	})

	t.Run("resources and scheduling", func(t *testing.T) {
		req, lim := c.Resources.Requests, c.Resources.Limits
		if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
			t.Errorf("resources: want cpu and memory requests and a memory limit, got %v", c.Resources)
		}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			t.Fatalf("the Deployment's selector does not match its pods: %v", err)
		}
		keys := map[string]bool{}
		for _, tsc := range pod.Spec.TopologySpreadConstraints {
			s, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
			if err != nil || !s.Matches(labels.Set(pod.Labels)) {
				t.Errorf("topologySpreadConstraint %s does not select the pods", tsc.TopologyKey)
			}
			keys[tsc.TopologyKey] = true
		}
		if !keys[corev1.LabelHostname] || !keys[corev1.LabelTopologyZone] {
			t.Errorf("spread over nodes and zones, got %v", keys)
		}
		if dep.Spec.Replicas != nil {
			t.Error("the Deployment must not set replicas: the HPA owns the count")
		}
		if dep.Spec.Strategy.RollingUpdate == nil || dep.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
			t.Error("rolling updates must not take a ready replica away before its successor is ready")
		}
	})

	t.Run("disruption budget and autoscaler", func(t *testing.T) {
		s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !s.Matches(labels.Set(pod.Labels)) {
			t.Error("the PodDisruptionBudget does not select the pods")
		}
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			t.Error("the PodDisruptionBudget sets no budget")
		}
		ref := hpa.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != dep.Name || ref.APIVersion != "apps/v1" {
			t.Errorf("the HPA scales %v, not the Deployment", ref)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
			t.Error("the HPA must keep at least 2 replicas")
		}
		if len(hpa.Spec.Metrics) == 0 || c.Resources.Requests.Cpu().IsZero() {
			t.Error("a CPU-utilisation HPA needs a metric and a CPU request")
		}
	})

	t.Run("service", func(t *testing.T) {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			t.Error("the Service does not select the pods")
		}
		want := map[string]int{"grpc": cfg.Serve.GRPC.Port, "http": cfg.Serve.API.Port}
		for _, p := range svc.Spec.Ports {
			if got := containerPort(t, c, p.TargetPort); int(got) != want[p.Name] {
				t.Errorf("Service port %s targets %d, the config listens on %d", p.Name, got, want[p.Name])
			}
			delete(want, p.Name)
		}
		if len(want) > 0 {
			t.Errorf("the Service lacks ports %v", want)
		}
		if p := svc.Spec.Ports[slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "grpc" })]; p.AppProtocol == nil || *p.AppProtocol != "grpc" {
			t.Error("the grpc port must declare appProtocol grpc (HTTP/2 for meshes and gateways)")
		}
	})
}

// TestKubernetesServiceLinksWouldBreakTheConfig shows why the Deployment
// turns service links off: with them, the Service named portcullis puts
// PORTCULLIS_PORT and friends in the environment, which the config loader
// reads as (unknown) overrides.
func TestKubernetesServiceLinksWouldBreakTheConfig(t *testing.T) {
	objs := kubeObjects(t, "kubernetes/portcullis.yaml")
	cm := only[*corev1.ConfigMap](t, objs)
	dep := only[*appsv1.Deployment](t, objs)
	svc := only[*corev1.Service](t, objs)
	spec := dep.Spec.Template.Spec.DeepCopy()
	spec.EnableServiceLinks = nil // the Kubernetes default: on
	_, _, err := svcconfig.Load("config.yaml", []byte(cm.Data["config.yaml"]), podEnviron(spec, &spec.Containers[0], []*corev1.Service{svc}))
	if err == nil || !strings.Contains(err.Error(), "PORTCULLIS_PORT") {
		t.Fatalf("with service links the config should fail on PORTCULLIS_PORT, got %v", err)
	}
}

// istioManifest is the envelope of an Istio resource. Its spec is decoded
// by protojson into the istio.io/api type, which rejects unknown fields.
type istioManifest struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
}

// decodeProto decodes JSON into an istio.io/api message: protojson fails
// on unknown fields.
func decodeProto(t *testing.T, where string, data []byte, msg proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(data, msg); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// readOneDocument returns a file that must hold one YAML document.
func readOneDocument(t *testing.T, path string) []byte {
	t.Helper()
	docs := yamlDocuments(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document, got %d (each Istio step is its own file)", path, len(docs))
	}
	return docs[0]
}

// portcullisProvider returns the extension provider named portcullis.
func portcullisProvider(t *testing.T, where string, mc *meshv1alpha1.MeshConfig) *meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyExternalAuthorizationGrpcProvider {
	t.Helper()
	for _, p := range mc.GetExtensionProviders() {
		if p.GetName() == "portcullis" {
			if g := p.GetEnvoyExtAuthzGrpc(); g != nil {
				return g
			}
			t.Fatalf("%s: provider portcullis is not envoyExtAuthzGrpc", where)
		}
	}
	t.Fatalf("%s: no extension provider named portcullis", where)
	return nil
}

// TestIstioManifests decodes the Istio examples strictly into istio.io/api
// types: the mesh's extension provider (istioctl and Helm forms, which must
// agree) points at the Kubernetes example's gRPC Service port and fails
// closed, and the CUSTOM AuthorizationPolicy names that provider.
func TestIstioManifests(t *testing.T) {
	files, err := filepath.Glob("istio/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"istio/authorization-policy.yaml", "istio/extension-provider.yaml", "istio/istiod-values.yaml"}
	if !slices.Equal(files, want) {
		t.Fatalf("istio examples %q, want %q: give every new file a check here", files, want)
	}
	svc := only[*corev1.Service](t, kubeObjects(t, "kubernetes/portcullis.yaml"))
	var grpcPort int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "grpc" {
			grpcPort = p.Port
		}
	}

	// istioctl: an IstioOperator overlay with only spec.meshConfig.
	var op istioManifest
	if err := decodeStrict(readOneDocument(t, "istio/extension-provider.yaml"), &op); err != nil {
		t.Fatalf("istio/extension-provider.yaml: %v", err)
	}
	if op.APIVersion != "install.istio.io/v1alpha1" || op.Kind != "IstioOperator" {
		t.Fatalf("istio/extension-provider.yaml: %s %s, want an install.istio.io/v1alpha1 IstioOperator", op.APIVersion, op.Kind)
	}
	var opSpec struct {
		MeshConfig json.RawMessage `json:"meshConfig"`
	}
	if strictErrs, err := sigsjson.UnmarshalStrict(op.Spec, &opSpec); err != nil || len(strictErrs) > 0 {
		err = errors.Join(append(strictErrs, err)...)
		t.Fatalf("istio/extension-provider.yaml: spec: %v", err)
	}
	fromOperator := &meshv1alpha1.MeshConfig{}
	decodeProto(t, "istio/extension-provider.yaml spec.meshConfig", opSpec.MeshConfig, fromOperator)

	// Helm: the istiod chart's meshConfig value.
	var values struct {
		MeshConfig json.RawMessage `json:"meshConfig"`
	}
	if err := decodeStrict(readOneDocument(t, "istio/istiod-values.yaml"), &values); err != nil {
		t.Fatalf("istio/istiod-values.yaml: %v", err)
	}
	fromHelm := &meshv1alpha1.MeshConfig{}
	decodeProto(t, "istio/istiod-values.yaml meshConfig", values.MeshConfig, fromHelm)
	if !proto.Equal(fromOperator, fromHelm) {
		t.Errorf("the istioctl and Helm mesh configs differ:\n%v\n%v", fromOperator, fromHelm)
	}

	g := portcullisProvider(t, "istio/extension-provider.yaml", fromOperator)
	if wantSvc := svc.Name + "." + svc.Namespace + ".svc.cluster.local"; g.GetService() != wantSvc || int32(g.GetPort()) != grpcPort {
		t.Errorf("provider points at %s:%d, want the Service %s:%d", g.GetService(), g.GetPort(), wantSvc, grpcPort)
	}
	if g.GetFailOpen() {
		t.Error("failOpen must be false: no decision, no request")
	}
	if d := g.GetTimeout().AsDuration(); d <= 0 || d > time.Second {
		t.Errorf("timeout %v, want a short deadline", d)
	}

	var ap istioManifest
	if err := decodeStrict(readOneDocument(t, "istio/authorization-policy.yaml"), &ap); err != nil {
		t.Fatalf("istio/authorization-policy.yaml: %v", err)
	}
	if ap.APIVersion != "security.istio.io/v1" || ap.Kind != "AuthorizationPolicy" || ap.Metadata.Name == "" || ap.Metadata.Namespace == "" {
		t.Fatalf("istio/authorization-policy.yaml: %s %s %s/%s", ap.APIVersion, ap.Kind, ap.Metadata.Namespace, ap.Metadata.Name)
	}
	policy := &securityv1beta1.AuthorizationPolicy{}
	decodeProto(t, "istio/authorization-policy.yaml spec", ap.Spec, policy)
	if policy.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM || policy.GetProvider().GetName() != "portcullis" {
		t.Errorf("policy action %v provider %q, want CUSTOM portcullis", policy.GetAction(), policy.GetProvider().GetName())
	}
	if len(policy.GetSelector().GetMatchLabels()) == 0 {
		t.Error("the policy must select a workload: without a selector it applies to the whole namespace")
	}
}
