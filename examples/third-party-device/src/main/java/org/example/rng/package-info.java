/**
 * An example third-party device (a random-number generator on port IO), built against the outer
 * API only.
 */
package org.example.rng;
