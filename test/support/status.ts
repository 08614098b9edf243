// Status codes as the spec lists them (Appendix D.3.1 and 4.11.1.4), for assertions.
export const SecureChannelStatus = {
  general: { success: 0, failure: 1, busy: 8 },
  code: { success: 0, noSharedTrustRoots: 1, invalidParameter: 2, closeSession: 3, busy: 4 },
} as const;
