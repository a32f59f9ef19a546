# vrrp-operator: keepalived-grade VRRP failover for bare-metal Kubernetes.
# `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= vrrp-operator:dev
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
export KUBEBUILDER_ASSETS ?= $(LOCALBIN)
export PATH := $(LOCALBIN):$(PATH)

GO_TEST_FLAGS ?= -race -count=1
# go test's default 10-minute limit per package is a build deadline in disguise: the netns and
# cluster packages build the agent and the plugin inside their tests, which on a fresh machine (cold
# Go cache, two cores, other packages compiling beside them) alone can take most of ten minutes.
# Each test bounds its own waits; this only catches a hang.
TEST_TIMEOUT ?= 60m
TEST_REPORT ?= $(LOCALBIN)/test-report.txt
FUZZTIME ?= 60s

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and the agent's and controller's RBAC roles from markers.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=vrrp-operator-controller paths=./controllers/... output:rbac:artifacts:config=config/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=vrrp-operator-agent paths=./agent/... output:rbac:artifacts:config=config/rbac/agent
	mkdir -p charts/vrrp-operator/files/crds charts/vrrp-operator/files/rbac/agent charts/vrrp-operator/files/rbac/controller
	cp config/crd/bases/vrrp.dev_virtualips.yaml charts/vrrp-operator/files/crds/
	cp config/rbac/agent/role.yaml config/rbac/agent/node_scope_policy.yaml charts/vrrp-operator/files/rbac/agent/
	cp config/rbac/controller/role.yaml charts/vrrp-operator/files/rbac/controller/

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths=./api/...

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: generate manifests ## Fail when generated files, go.mod/go.sum or formatting are stale.
	go mod tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	@git diff --exit-code -- api config charts go.mod go.sum || { echo "generated files or go.mod are stale: run make generate manifests && go mod tidy and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config charts go.mod go.sum)" || { echo "untracked generated files:"; git status --porcelain -- api config charts; exit 1; }

##@ Test

# The local cluster's test runs after the others, whether they passed or not: its kubelets and
# control plane would load the two cores while the netns tests measure failovers of 100 ms adverts.
# (The recipe's shell runs with -e: each go test's failure is caught, not left to end it.)
LOCALCLUSTER_PKG := ./test/localcluster

.PHONY: test
test: kube-binaries ## Run every test: unit, envtest (real kube-apiserver), netns and keepalived interop, the chart on real kubelets (as root).
	@rm -f $(TEST_REPORT)
	status=0; VRRP_TEST_REPORT=$(TEST_REPORT) go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) $$(go list ./... | grep -v '/test/localcluster$$') || status=1; \
	VRRP_TEST_REPORT=$(TEST_REPORT) go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) $(LOCALCLUSTER_PKG) || status=1; \
	if [ -s $(TEST_REPORT) ]; then echo "--- measured"; sort $(TEST_REPORT); fi; exit $$status

.PHONY: test-unit
test-unit: ## Run the tests that need neither root nor kube binaries (the others skip).
	go test $(GO_TEST_FLAGS) -short ./...

.PHONY: test-integration
test-integration: kube-binaries ## Run the envtest, network-namespace and local cluster tests only.
	status=0; go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./controllers/... $$(go list ./test/... | grep -v '/test/localcluster$$') || status=1; \
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) $(LOCALCLUSTER_PKG) || status=1; exit $$status

.PHONY: e2e
e2e: kube-binaries ## Run the multi-node tests in network namespaces (root).
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) -v ./test/e2e/...

.PHONY: fuzz
fuzz: ## Fuzz the VRRP packet decoder for FUZZTIME (default 60s).
	go test -run=NONE -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./agent/vrrp

# `make bench` measures this project beside keepalived in one run and writes every number as a row
# of BENCH_OUT, which hack/benchreport renders into docs/benchmarks.md and docs/benchmarks.svg
# (committed). BENCH_RUNS is the handovers per failover case, BENCH_FOOTPRINT_RUNS the 15 s windows
# per footprint case. Missing root or keepalived fails the run rather than leave rows out. A step
# that fails (keepalived's 250 routers at 100 ms once did not settle within four minutes) does not
# stop the others: the page is rendered from the rows they wrote, and the run fails, naming the
# steps whose rows are missing.
BENCH_OUT ?= $(CURDIR)/_output/bench.json
BENCH_RUNS ?= 7
BENCH_FOOTPRINT_RUNS ?= 3

.PHONY: bench
bench: kube-binaries ## Measure beside keepalived (root): failover, footprint, status, fleet, micro-benchmarks; renders docs/benchmarks.md.
	@mkdir -p $(dir $(BENCH_OUT)) && rm -f $(BENCH_OUT)
	@failed=""; \
	step() { echo "+ $$*"; "$$@" || failed="$$failed  $$*"$$'\n'; }; \
	step go test -run=NONE -bench=. -skip=Fleet -benchmem ./agent/... ./controllers/... > $(dir $(BENCH_OUT))bench-micro.txt; \
	cat $(dir $(BENCH_OUT))bench-micro.txt; \
	export VRRP_BENCH_OUT=$(BENCH_OUT); \
	step env VRRP_REQUIRE_PRIVILEGED=1 go test -timeout $(TEST_TIMEOUT) -run=NONE -bench=Failover -benchtime=$(BENCH_RUNS)x ./test/e2e; \
	step env VRRP_REQUIRE_PRIVILEGED=1 go test -timeout $(TEST_TIMEOUT) -run=NONE -bench=Footprint -benchtime=$(BENCH_FOOTPRINT_RUNS)x ./test/footprint; \
	step env VRRP_REQUIRE_PRIVILEGED=1 go test -timeout $(TEST_TIMEOUT) -run=NONE -bench='StatusHandover|SteadyStateWrites|ClusterFootprint' -benchtime=1x ./test/cluster; \
	step go test -timeout $(TEST_TIMEOUT) -run=NONE -bench=Fleet -benchtime=1x ./agent/kube; \
	step go run ./hack/benchreport -in $(BENCH_OUT) -micro $(dir $(BENCH_OUT))bench-micro.txt -out docs/benchmarks.md -svg docs/benchmarks.svg; \
	if [ -n "$$failed" ]; then printf 'make bench: these steps failed, their rows are missing from docs/benchmarks.md:\n%s' "$$failed" >&2; exit 1; fi

.PHONY: cover
cover: ## Print statement coverage of the protocol package.
	go test -cover ./agent/vrrp

##@ Build

# PAUSE_IMG names the pause image as containerd's default sandbox image, so that a local cluster
# starts pods without pulling it.
PAUSE_IMG ?= registry.k8s.io/pause:3.10

.PHONY: build
build: ## Build bin/vrrp-operator (static and stripped, as the Dockerfile builds it), the standalone agent bin/vrrp-agent and the kubectl plugin bin/kubectl-vrrp.
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/vrrp-operator ./cmd/vrrp-operator
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/vrrp-agent ./cmd/vrrp-agent
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/kubectl-vrrp ./cmd/kubectl-vrrp

.PHONY: image
image: build ## Write the image $(IMG) as bin/vrrp-operator-image.tar without an engine (docker load, ctr images import).
	go run ./hack/image --binary $(LOCALBIN)/vrrp-operator --tag '$(IMG)' --output $(LOCALBIN)/vrrp-operator-image.tar

.PHONY: pause-image
pause-image: ## Write the pause image $(PAUSE_IMG) for a local cluster's pods as bin/pause-image.tar.
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/pause ./hack/pause
	go run ./hack/image --pause --binary $(LOCALBIN)/pause --tag '$(PAUSE_IMG)' --output $(LOCALBIN)/pause-image.tar

.PHONY: docker-build
docker-build: ## Build the image $(IMG) with a container engine.
	docker build -t '$(IMG)' .

.PHONY: docker-push
docker-push: ## Push the image $(IMG).
	docker push '$(IMG)'

.PHONY: run
run: manifests generate ## Run the controller against the cluster in ~/.kube/config.
	go run ./cmd/vrrp-operator controller --leader-elect=false

.PHONY: demo
demo: kube-binaries image pause-image ## The seed on a local 3-node cluster: helm install, kubectl apply, cordon, failover measured (root).
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Remove the demo's cluster: processes, mounts, cgroups, network namespaces, the bridge.
	hack/cluster.sh down

.PHONY: demo-standalone
demo-standalone: build ## Run the seed's two-node keepalived setup as VirtualIPs in network namespaces, without Kubernetes (root).
	hack/demo-standalone.sh

.PHONY: install
install: manifests ## Install the CRD into the cluster in ~/.kube/config.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the cluster.
	kubectl delete --ignore-not-found -f config/crd/bases

# IMG is name[:tag][@sha256:...], and the name may start with a registry with a port
# (host:5000/team/vrrp-operator:v1): the tag is what follows a ':' in the last path element only. The
# chart prefers the digest to the tag; with neither, the tag is latest, as docker assumes.
.PHONY: deploy
# The namespace admits privileged pods first: created by helm --create-namespace it had no label, and
# where the cluster enforces baseline the DaemonSet created no agent, which the chart's check cannot
# see for a namespace that does not exist yet.
deploy: manifests ## Install the chart with the image $(IMG) into the cluster in ~/.kube/config.
	@img='$(IMG)'; repo=$${img%%@*}; digest=; tag=; \
	if [ "$$repo" != "$$img" ]; then digest=$${img#*@}; fi; \
	last=$${repo##*/}; \
	if [ "$${last%:*}" != "$$last" ]; then tag=$${last##*:}; repo=$${repo%:*}; fi; \
	if [ -z "$$tag$$digest" ]; then tag=latest; fi; \
	set -x; \
	kubectl create namespace vrrp-system --dry-run=client -o yaml | kubectl apply -f - && \
	kubectl label namespace vrrp-system pod-security.kubernetes.io/enforce=privileged --overwrite && \
	helm upgrade --install vrrp-operator charts/vrrp-operator --namespace vrrp-system --take-ownership \
		--set image.repository="$$repo" --set image.tag="$$tag" --set image.digest="$$digest"

.PHONY: undeploy
undeploy: ## Uninstall the chart.
	helm uninstall vrrp-operator --namespace vrrp-system

##@ Tools

.PHONY: kube-binaries
kube-binaries: ## Build kube-apiserver, etcd, kubectl and helm into bin/ from the Go module proxy (minutes the first time).
	hack/build-kube-binaries.sh

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen into bin/.
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
