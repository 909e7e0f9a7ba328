/**
 * Test support: real guest memory for backend and engine tests, a framework-free guest runner.
 */
package io.cloister.testkit;
