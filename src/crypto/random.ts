/** A source of cryptographically secure random bytes (CtrDrbg in the firmware). */
export interface Random {
  bytes(length: number): Uint8Array;
}
