package io.cloister.vmm;

import io.cloister.api.backend.BackendPolicy;

/** A registered backend policy service and the bundle that provides it (for error messages). */
record Backend(String name, BackendPolicy policy, String bundle) {
}
