/**
 * The terminal spinner, in its own module so only TTY sessions load it. A static import here
 * (not `await import('nanospinner')`): a dynamic import of a bundled CommonJS package loses its
 * named exports.
 */
export { createSpinner } from 'nanospinner';
