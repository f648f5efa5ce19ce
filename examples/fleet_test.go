package examples_test

import (
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/portcullis-authz/portcullis/rulestore/xds"
)

// named returns the single object of type T named name.
func named[T interface{ GetName() string }](t *testing.T, objs []any, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok && v.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("examples/kubernetes/fleet.yaml has no %T named %s", zero, name)
	return zero
}

// mountOf returns where container c mounts the volume that shows
// ConfigMap cm.
func mountOf(t *testing.T, spec *corev1.PodSpec, c *corev1.Container, cm string) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != cm {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				if !m.ReadOnly {
					t.Errorf("%s: volume %s is mounted writable", c.Name, m.Name)
				}
				return m.MountPath
			}
		}
	}
	t.Fatalf("%s does not mount ConfigMap %s", c.Name, cm)
	return ""
}

// flagValue returns the value after flag in args.
func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %q lack %s", args, flag)
	}
	return args[i+1]
}

// TestKubernetesFleet checks examples/kubernetes/fleet.yaml: the control
// plane reads the rules ConfigMap and validates with the instances' own
// config; the instances' xds:// repository names the control plane's
// Service and port; the rules compile with that config; both pods pass
// Pod Security restricted.
func TestKubernetesFleet(t *testing.T) {
	objs := kubeObjects(t, "kubernetes/fleet.yaml")
	ns := only[*corev1.Namespace](t, objs)
	cfgMap := named[*corev1.ConfigMap](t, objs, "portcullis-fleet")
	rulesMap := named[*corev1.ConfigMap](t, objs, "portcullis-rules")
	cp := named[*appsv1.Deployment](t, objs, "portcullis-control-plane")
	cpSvc := named[*corev1.Service](t, objs, "portcullis-control-plane")
	inst := named[*appsv1.Deployment](t, objs, "portcullis")
	instSvc := named[*corev1.Service](t, objs, "portcullis")

	for _, dep := range []*appsv1.Deployment{cp, inst} {
		pod := &dep.Spec.Template
		eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
		if err != nil {
			t.Fatal(err)
		}
		res := psapolicy.AggregateCheckResults(eval.EvaluatePod(
			psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec))
		if !res.Allowed {
			t.Errorf("%s violates Pod Security restricted: %s: %s", dep.Name, res.ForbiddenReason(), res.ForbiddenDetail())
		}
		if dep.Namespace != ns.Name {
			t.Errorf("%s is in namespace %q, want %q", dep.Name, dep.Namespace, ns.Name)
		}
		sel, err := labels.ValidatedSelectorFromSet(dep.Spec.Selector.MatchLabels)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("%s: the selector does not match its pods", dep.Name)
		}
	}

	// The control plane: rules from the rules ConfigMap, the instances'
	// config for validation, the xDS port behind its Service.
	cpPod := &cp.Spec.Template.Spec
	cpc := &cpPod.Containers[0]
	if len(cpc.Args) == 0 || cpc.Args[0] != "control-plane" {
		t.Fatalf("control plane args %q: want control-plane ...", cpc.Args)
	}
	if got, want := flagValue(t, cpc.Args, "--rules"), mountOf(t, cpPod, cpc, rulesMap.Name); got != want {
		t.Errorf("--rules %s, the rules ConfigMap is mounted at %s", got, want)
	}
	if got, want := flagValue(t, cpc.Args, "--config"), filepath.Join(mountOf(t, cpPod, cpc, cfgMap.Name), "config.yaml"); got != want {
		t.Errorf("--config %s, the instances' config is at %s", got, want)
	}
	_, listenPort, err := net.SplitHostPort(flagValue(t, cpc.Args, "--listen"))
	if err != nil {
		t.Fatal(err)
	}
	if !labels.SelectorFromSet(cpSvc.Spec.Selector).Matches(labels.Set(cp.Spec.Template.Labels)) || len(cpSvc.Spec.Ports) != 1 {
		t.Fatal("the control plane Service must select its pods, with one port")
	}
	svcPort := cpSvc.Spec.Ports[0]
	if got := containerPort(t, cpc, svcPort.TargetPort); strconv.Itoa(int(got)) != listenPort {
		t.Errorf("the Service targets %d, the control plane listens on %s", got, listenPort)
	}
	if cpc.ReadinessProbe == nil || cpc.ReadinessProbe.GRPC == nil || strconv.Itoa(int(cpc.ReadinessProbe.GRPC.Port)) != listenPort {
		t.Error("the control plane's readinessProbe must be its gRPC health on the xDS port")
	}

	// The instances: their config loads in the pod's environment, its
	// only repository is the control plane's Service, and the rules
	// compile with it.
	instPod := &inst.Spec.Template.Spec
	ic := &instPod.Containers[0]
	if got, want := flagValue(t, ic.Args, "--config"), filepath.Join(mountOf(t, instPod, ic, cfgMap.Name), "config.yaml"); got != want {
		t.Errorf("--config %s, the config is at %s", got, want)
	}
	cfg := compileExample(t, "examples/kubernetes/fleet.yaml", []byte(cfgMap.Data["config.yaml"]), []byte(rulesMap.Data["rules.yaml"]),
		podEnviron(instPod, ic, []*corev1.Service{instSvc, cpSvc}))
	repos := cfg.AccessRules.Repositories
	if len(repos) != 1 || !strings.HasPrefix(repos[0], "xds://") {
		t.Fatalf("access_rules.repositories %q: want the control plane's xds:// URL only", repos)
	}
	target, _, err := xds.ParseURL(repos[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := net.JoinHostPort(cpSvc.Name+"."+cpSvc.Namespace+".svc", strconv.Itoa(int(svcPort.Port))); target != want {
		t.Errorf("instances dial %s, the control plane's Service is %s", target, want)
	}
}
