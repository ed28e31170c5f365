# VERSION is the release being built: the chart's appVersion, which is also
# the chart's default image tag (hack/helmchart/static/Chart.yaml).
VERSION ?= $(shell sed -n 's/^appVersion: "\(.*\)"$$/\1/p' hack/helmchart/static/Chart.yaml)
# Image URL to use all building/pushing image targets
IMG ?= ghcr.io/keypool-dev/keypool-operator:$(VERSION)

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole and CustomResourceDefinition objects.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate code containing DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt" paths="./..."

# API_REFERENCE is where `make docs` writes the KeyPool API reference, and
# HELM_VALUES the Helm chart's values table; test/docs regenerates each
# elsewhere and compares.
API_REFERENCE ?= docs/reference/api-reference.md
HELM_VALUES ?= docs/reference/helm-values.md
FLAGS_REFERENCE ?= docs/reference/flags.md

.PHONY: docs
docs: api-reference helm-values flags-reference ## Generate the API reference, the Helm values table and the flags reference (docs/reference/).

.PHONY: flags-reference
flags-reference: ## Generate docs/reference/flags.md from the manager's --help (hack/flagsdoc).
	@go run ./cmd/manager --help 2>&1 | go run ./hack/flagsdoc > "$(FLAGS_REFERENCE).tmp"
	@mv "$(FLAGS_REFERENCE).tmp" "$(FLAGS_REFERENCE)"

.PHONY: api-reference
api-reference: crd-ref-docs ## Generate docs/reference/api-reference.md from the Go types in api/ (crd-ref-docs).
	@"$(CRD_REF_DOCS)" --source-path=./api --config=hack/crd-ref-docs/config.yaml \
		--renderer=markdown --log-level=ERROR --output-path="$(API_REFERENCE)"

# helm-docs writes to stdout here (--dry-run) so that the table can go to
# docs/; it exits 0 even when it skips the chart, so an output without the
# table is an error.
.PHONY: helm-values
helm-values: helm-docs ## Generate docs/reference/helm-values.md from dist/chart/values.yaml's "# --" comments (helm-docs).
	@"$(HELM_DOCS)" --chart-search-root=dist/chart --template-files="$(CURDIR)/hack/helm-docs/values.md.gotmpl" \
		--sort-values-order=file --log-level=warning --dry-run > "$(HELM_VALUES).tmp"
	@grep -q '^| Key | Type | Default | Description |' "$(HELM_VALUES).tmp" || \
		{ rm -f "$(HELM_VALUES).tmp"; echo "helm-docs rendered no values table for dist/chart" >&2; exit 1; }
	@mv "$(HELM_VALUES).tmp" "$(HELM_VALUES)"

# The measuring programs are a module of their own (bench/, see
# bench/README.md), which ./... at the root does not reach: the targets that
# check code run once in each module.
.PHONY: fmt
fmt: ## Run go fmt against code (both modules).
	go fmt ./...
	cd bench && go fmt ./...

.PHONY: vet
vet: ## Run go vet against code (both modules).
	go vet ./...
	cd bench && go vet ./...

# Every package runs under the race detector, including the envtest suites and
# the end-to-end test (which builds and drives the real manager binary).
# test/helm needs helm, test/monitoring promtool (both built from Go modules),
# test/release actionlint.
# The bench module's tests are unit tests of the measuring programs: they
# start no control plane.
.PHONY: test
test: manifests generate fmt vet envtest redis-server crd-ref-docs helm-docs helm-bin promtool actionlint ## Run all tests (unit, envtest, end to end, doc, chart and alert checks) with -race.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -race -count=1 -timeout 20m ./...
	cd bench && go test -race -count=1 -timeout 20m ./...

.PHONY: test-e2e
test-e2e: manifests generate envtest ## Run only the end-to-end test (real manager binary, kubectl, SDKs).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -race -count=1 -timeout 15m ./test/e2e/... -v

.PHONY: bench
bench: ## Run the Go benchmarks with -benchmem.
	go test -run '^$$' -bench . -benchmem ./internal/...

# The measuring programs (soak, loadtest, attack, sim) run in the bench
# module, from bench/: paths in their *_ARGS are relative to bench/, and
# results go to bench/results. See bench/README.md.

# SOAK_ARGS are bench/cmd/soak's flags: how long to send load after a 10 s
# warm-up, at what rate; see `cd bench && go run ./cmd/soak -h`.
SOAK_ARGS ?= -duration 2m -rate 100

.PHONY: soak
soak: ## Run the bounded data-plane soak (load, faults, key rotations; minutes; not part of `make test`).
	cd bench && go run ./cmd/soak $(SOAK_ARGS)

# FUZZTIME is how long (10s) or for how many inputs (30000x) `make fuzz` runs
# each fuzz target. Their seed corpora
# run in every `make test` as ordinary tests.
FUZZTIME ?= 10s

.PHONY: fuzz
# The targets are found in the sources: `go test -list` would run the
# packages' TestMain, which starts a control plane in internal/controller.
# Those under bench/ are run from its module (go -C bench).
fuzz: ## Run every fuzz target of internal/ and bench/ for FUZZTIME each.
	@for file in $$(grep -rl --include='*_test.go' '^func Fuzz' internal bench); do \
		mod=.; pkg="./$$(dirname "$$file")"; \
		case "$$file" in bench/*) mod=bench; pkg="./$$(dirname "$${file#bench/}")";; esac; \
		for fn in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' "$$file" | cut -d' ' -f2); do \
			echo "fuzz: $$mod $$pkg $$fn"; \
			go -C "$$mod" test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
		done; \
	done

# LOADTEST_ARGS are bench/cmd/loadgen's flags; the defaults take about 10 minutes
# (fixed rates 500, 1000 and 1500 req/s for 10 s each, json and sse, direct,
# through nginx (the yardstick), through a bare Go reverse proxy (the Go
# floor) and through the proxy, then a sustained-rate search, time to first
# event and memory with 1,000 and 5,000 held streams through the proxy and
# the bare one).
# Only 127.0.0.1 is targeted. See bench/README.md.
LOADTEST_ARGS ?= -out results

# REDIS=1 runs the shared-limits comparison instead: the fixed-rate steps
# through a proxy with local limits and one whose limits live in a
# redis-server started for the run (--redis-url), back to back; the added
# latency goes to bench/results/redis.md.
REDIS ?=

.PHONY: loadtest
loadtest: nginx $(if $(REDIS),redis-server) ## Run the load harness (fake provider, nginx and proxy as processes, vegeta); results in bench/results/. REDIS=1: local vs Redis limits.
	cd bench && go run ./cmd/loadgen $(LOADTEST_ARGS) $(if $(REDIS),-redis)

# ATTACK_ARGS are bench/cmd/loadgen's -hostile flags; the defaults attack a proxy
# replica (default flags, the Deployment's GOMEMLIMIT) for 75 s with 1,000
# slow-header connections and 100 clients trickling 32 MiB bodies, on
# 127.0.0.1 only, and check its RSS against the Deployment's 512 MiB limit.
ATTACK_ARGS ?= -out results

.PHONY: attack
attack: ## Measure proxy memory under hostile clients (slow headers, trickled bodies); writes bench/results/attack.md.
	cd bench && go run ./cmd/loadgen -hostile $(ATTACK_ARGS)

# SIM_ARGS are bench/cmd/sim's flags; the defaults simulate 5 minutes per
# configuration at 40x (27 configurations, about 4 minutes on 2 cores).
SIM_ARGS ?=

.PHONY: sim
sim: ## Simulate pooling efficiency (fake provider + real proxy, scaled clock); writes bench/results/sim.{md,json}.
	cd bench && go run ./cmd/sim $(SIM_ARGS)

# The bench and hack/image modules are linted from their folders with the
# root's rules.
.PHONY: lint
lint: golangci-lint ## Run golangci-lint linter (the product, bench/ and hack/image modules).
	"$(GOLANGCI_LINT)" run
	cd bench && "$(GOLANGCI_LINT)" run --config ../.golangci.yml
	cd hack/image && "$(GOLANGCI_LINT)" run --config ../../.golangci.yml

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint linter and perform fixes (both modules).
	"$(GOLANGCI_LINT)" run --fix
	cd bench && "$(GOLANGCI_LINT)" run --fix --config ../.golangci.yml

.PHONY: lint-config
lint-config: golangci-lint ## Verify golangci-lint linter configuration.
	"$(GOLANGCI_LINT)" config verify

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build manager binary.
	go build -o bin/manager ./cmd/manager

# RUN_ARGS are the manager's flags for `make run`: the proxy on localhost:8080,
# readable logs, statistics in the status every 2 seconds, and the providers'
# APIs plus the demo's fake provider (`make fake-provider`) as allowed upstreams.
RUN_ARGS ?= --proxy-bind-address=127.0.0.1:8080 --health-probe-bind-address=127.0.0.1:8081 \
	--proxy-service-url=http://127.0.0.1:8080 --log-format=console --status-interval=2s \
	--allowed-upstreams=https://api.anthropic.com,https://api.openai.com,http://127.0.0.1:9090

.PHONY: run
run: manifests generate fmt vet build ## Run the operator against the current kubeconfig, or a local control plane when none is reachable.
	@if "$(KUBECTL)" cluster-info --request-timeout=5s >/dev/null 2>&1; then \
		echo "run: cluster reachable through the current kubeconfig; installing the CRDs"; \
		$(MAKE) --no-print-directory install; \
		bin/manager $(RUN_ARGS); \
	else \
		$(MAKE) --no-print-directory envtest; \
		go build -o bin/localcluster ./hack/localcluster; \
		exec bin/localcluster --assets "$(ENVTEST_ASSETS)" --manager bin/manager -- $(RUN_ARGS); \
	fi

# The demo's fake provider: four keys in two organisations with small limits,
# so that a few requests move the numbers in `kubectl get keypools`.
FAKE_PROVIDER_ARGS ?= -addr 127.0.0.1:9090 -keys demo-key-1=org-a,demo-key-2=org-a,demo-key-3=org-b,demo-key-4=org-b \
	-limits org-a=rpm:20/itpm:20000/otpm:4000,org-b=rpm:10/itpm:10000/otpm:2000

.PHONY: fake-provider
fake-provider: ## Run the fake Anthropic/OpenAI provider for the demo on 127.0.0.1:9090.
	go run ./cmd/fakeprovider $(FAKE_PROVIDER_ARGS)

# IMAGE_ARCHIVE is where `make image` writes the manager's OCI image: a tar of
# an OCI image layout (load it with `skopeo copy oci-archive:...`, `crane
# push` or `podman load`). SOURCE_DATE_EPOCH stamps it; the same sources, Go
# toolchain and CA bundle give the same digest.
IMAGE_ARCHIVE ?= dist/keypool-operator-$(VERSION).oci.tar
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: print-version
print-version: ## Print VERSION (the chart's appVersion), for the release workflow.
	@echo "$(VERSION)"

.PHONY: image
image: ## Build the manager's OCI image archive offline, without Docker (IMAGE_ARCHIVE; static binary, CA bundle, non-root, no shell).
	@mkdir -p "$(dir $(IMAGE_ARCHIVE))"
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o "$(IMAGE_ARCHIVE).manager" ./cmd/manager
	go -C hack/image run . -binary "$(abspath $(IMAGE_ARCHIVE).manager)" -ca "$(CA_BUNDLE)" -out "$(abspath $(IMAGE_ARCHIVE))" \
		-ref "$(IMG)" -revision "$(IMAGE_REVISION)" -created "$(SOURCE_DATE_EPOCH)"
	@rm -f "$(IMAGE_ARCHIVE).manager"
	@echo "image: $(IMG) in $(IMAGE_ARCHIVE)"

.PHONY: docker-build
docker-build: ## Build docker image with the manager.
	$(CONTAINER_TOOL) build -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate a consolidated YAML with CRDs and deployment.
	mkdir -p dist
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default > dist/install.yaml

# The chart is generated from the kustomize tree: edit config/ (or
# hack/helmchart for the values), then run `make helm`. test/helm fails when
# dist/chart and config/ drift apart.
.PHONY: helm
helm: manifests kustomize ## Regenerate the Helm chart in dist/chart from config/ (and its values table, docs/reference/helm-values.md, with helm-docs).
	go run ./hack/helmchart -root . -out dist/chart -kustomize "$(KUSTOMIZE) build"
	@$(MAKE) --no-print-directory helm-values

.PHONY: helm-lint
helm-lint: helm-bin ## Lint the Helm chart.
	"$(HELM)" lint --strict dist/chart

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the K8s cluster specified in ~/.kube/config.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" apply --server-side -f -; else echo "No CRDs to install; skipping."; fi

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the K8s cluster specified in ~/.kube/config.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -; else echo "No CRDs to delete; skipping."; fi

.PHONY: deploy
deploy: manifests kustomize ## Deploy controller to the K8s cluster specified in ~/.kube/config.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy controller from the K8s cluster specified in ~/.kube/config.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## Tool Binaries
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo "$(ENVTEST_ASSETS)/kubectl")
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
ENVTEST ?= $(LOCALBIN)/setup-envtest
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs
HELM ?= $(LOCALBIN)/helm
PROMTOOL ?= $(LOCALBIN)/promtool
HELM_DOCS ?= $(LOCALBIN)/helm-docs
ACTIONLINT ?= $(LOCALBIN)/actionlint

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0
ENVTEST_VERSION ?= v0.25.1
GOLANGCI_LINT_VERSION ?= v2.15.0
CRD_REF_DOCS_VERSION ?= v0.3.0
HELM_VERSION ?= v4.3.1
PROMTOOL_VERSION ?= v0.316.0
HELM_DOCS_VERSION ?= v1.14.2
ACTIONLINT_VERSION ?= v1.7.12

# ENVTEST_K8S_VERSION is the Kubernetes version of the envtest control plane
# (kube-apiserver, etcd, kubectl). hack/envtest/go.mod pins the same version
# for the offline build.
ENVTEST_K8S_VERSION ?= 1.37.2
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION)-linux-amd64

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: setup-envtest
setup-envtest: $(ENVTEST) ## Download setup-envtest locally if necessary.
$(ENVTEST): $(LOCALBIN)
	$(call go-install-tool,$(ENVTEST),sigs.k8s.io/controller-runtime/tools/setup-envtest,$(ENVTEST_VERSION))

# redis-server is the real Redis the shared-limits tests start on a free
# loopback port (internal/redistest). Debian's package provides it: installed
# here when missing where that is possible (root and apt), otherwise the one
# command to run is printed.
# nginx is the yardstick `make loadtest` measures the proxy against: a plain
# keep-alive reverse proxy in front of the same fake provider. Installed like
# redis-server where possible; without it the load test measures direct and
# proxy only and its report says why.
.PHONY: nginx
nginx: ## Provide nginx for the load test's yardstick (apt-get install when missing).
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "nginx: installing Debian's nginx"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	else \
		echo "nginx is missing, so the load test will skip the yardstick; install it with: sudo apt-get install -y nginx" >&2; \
	fi

.PHONY: redis-server
redis-server: ## Provide redis-server for the shared-limits tests (apt-get install when missing).
	@if command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "redis-server: installing Debian's redis-server"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "redis-server is missing; install it with: sudo apt-get install -y redis-server" >&2; exit 1; \
	fi

# envtest provides kube-apiserver, etcd and kubectl in $(ENVTEST_ASSETS): first
# through setup-envtest's download; where that is not possible (no network but
# the Go module proxy), by building them from Go modules (hack/envtest), which
# takes 10-20 minutes once and is cached in bin/ and the Go build cache.
.PHONY: envtest
envtest: $(ENVTEST_ASSETS)/kubectl ## Provide the envtest control-plane binaries (download, else build offline).
$(ENVTEST_ASSETS)/kubectl: hack/envtest/go.mod | $(ENVTEST)
	@if timeout 60 "$(ENVTEST)" use $(ENVTEST_K8S_VERSION) --bin-dir "$(LOCALBIN)" -p path >/dev/null 2>&1 \
		&& [ -x "$(ENVTEST_ASSETS)/kubectl" ]; then \
		echo "envtest: Kubernetes $(ENVTEST_K8S_VERSION) assets ready in $(ENVTEST_ASSETS) (setup-envtest)"; \
	else \
		echo "envtest: download of Kubernetes $(ENVTEST_K8S_VERSION) assets not possible; building them from Go modules"; \
		hack/envtest/build.sh "$(ENVTEST_ASSETS)"; \
	fi

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Download crd-ref-docs locally if necessary.
$(CRD_REF_DOCS): $(LOCALBIN)
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))

.PHONY: helm-docs
helm-docs: $(HELM_DOCS) ## Download helm-docs locally if necessary.
$(HELM_DOCS): $(LOCALBIN)
	$(call go-install-tool,$(HELM_DOCS),github.com/norwoodj/helm-docs/cmd/helm-docs,$(HELM_DOCS_VERSION))

# actionlint checks the forge's workflows (.github/workflows, test/release).
.PHONY: actionlint
actionlint: $(ACTIONLINT) ## Download actionlint locally if necessary.
$(ACTIONLINT): $(LOCALBIN)
	$(call go-install-tool,$(ACTIONLINT),github.com/rhysd/actionlint/cmd/actionlint,$(ACTIONLINT_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: helm-bin
helm-bin: $(HELM) ## Build helm locally (from its Go module) if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

# promtool checks and unit-tests the alert rules (test/monitoring). Its build
# takes a few minutes once.
.PHONY: promtool
promtool: $(PROMTOOL) ## Build promtool locally (from its Go module) if necessary.
$(PROMTOOL): $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef
