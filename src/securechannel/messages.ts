// TLV codecs of the PASE (spec 4.14.1) and CASE (spec 4.14.2) messages. Every message is an
// anonymous structure with context tags; decoders check each known field's type, width and
// length and ignore tags they do not know (later revisions may add fields). Anything malformed
// is a SecureChannelError with InvalidParameter, the status the handshake then reports.
import { CodecError } from "../codec/bytes";
import { TlvStruct, TlvWriter } from "../codec/tlv";
import { MAX_MATTER_CERT_LENGTH } from "../certs/opcert";
import { SecureChannelError } from "./errors";
import { readSessionParameters, writeSessionParameters, type LocalSessionParameters, type PeerSessionParameters } from "./session-parameters";

export const RANDOM_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 65;
export const HASH_LENGTH = 32;
export const RESUMPTION_ID_LENGTH = 16;
export const MIC_LENGTH = 16;
export const SIGNATURE_LENGTH = 64;
export const PBKDF_MIN_SALT_LENGTH = 16;
export const PBKDF_MAX_SALT_LENGTH = 32;
export const PBKDF_MIN_ITERATIONS = 1000;
export const PBKDF_MAX_ITERATIONS = 100000;
/** TBEData2 at its largest: two certificates, a signature, a resumption id, TLV overhead, the MIC. */
export const MAX_ENCRYPTED_LENGTH = 2 * MAX_MATTER_CERT_LENGTH + SIGNATURE_LENGTH + RESUMPTION_ID_LENGTH + 32 + MIC_LENGTH;

/** Handshake messages nest at most three levels (message, session parameters, PBKDF parameters). */
const LIMITS = { maxDepth: 3, maxElements: 64 };

/** Session parameters are read as PeerSessionParameters and written from LocalSessionParameters. */
type Parameters = PeerSessionParameters | LocalSessionParameters;

export interface PbkdfParamRequest<P extends Parameters = PeerSessionParameters> {
  initiatorRandom: Uint8Array;
  initiatorSessionId: number;
  passcodeId: number;
  hasPbkdfParameters: boolean;
  initiatorSessionParameters?: P;
}

export interface PbkdfParameters {
  iterations: number;
  salt: Uint8Array;
}

export interface PbkdfParamResponse<P extends Parameters = PeerSessionParameters> {
  initiatorRandom: Uint8Array;
  responderRandom: Uint8Array;
  responderSessionId: number;
  pbkdfParameters?: PbkdfParameters;
  responderSessionParameters?: P;
}

export interface Pake1 {
  pA: Uint8Array;
}

export interface Pake2 {
  pB: Uint8Array;
  cB: Uint8Array;
}

export interface Pake3 {
  cA: Uint8Array;
}

export interface Sigma1<P extends Parameters = PeerSessionParameters> {
  initiatorRandom: Uint8Array;
  initiatorSessionId: number;
  destinationId: Uint8Array;
  initiatorEphemeralPublicKey: Uint8Array;
  initiatorSessionParameters?: P;
  /** Present together with initiatorResumeMic, or not at all. */
  resumptionId?: Uint8Array;
  initiatorResumeMic?: Uint8Array;
}

export interface Sigma2<P extends Parameters = PeerSessionParameters> {
  responderRandom: Uint8Array;
  responderSessionId: number;
  responderEphemeralPublicKey: Uint8Array;
  encrypted2: Uint8Array;
  responderSessionParameters?: P;
}

export interface Sigma2Resume<P extends Parameters = PeerSessionParameters> {
  resumptionId: Uint8Array;
  sigma2ResumeMic: Uint8Array;
  responderSessionId: number;
  responderSessionParameters?: P;
}

export interface Sigma3 {
  encrypted3: Uint8Array;
}

/** The signed (TBSData) and encrypted (TBEData) parts of Sigma2 and Sigma3. */
export interface SignedData {
  senderNoc: Uint8Array;
  senderIcac?: Uint8Array;
  senderPublicKey: Uint8Array;
  receiverPublicKey: Uint8Array;
}

export interface EncryptedData {
  senderNoc: Uint8Array;
  senderIcac?: Uint8Array;
  signature: Uint8Array;
  /** Sigma2 only: the resumption id the responder offers. */
  resumptionId?: Uint8Array;
}

function decodeStruct(what: string, payload: Uint8Array): TlvStruct {
  try {
    const struct = TlvStruct.decode(payload, LIMITS);
    if (struct.element.type !== "structure" || struct.element.tag !== undefined) throw new CodecError("not an anonymous structure");
    return struct;
  } catch (error) {
    throw invalid(what, error);
  }
}

function invalid(what: string, error: unknown): SecureChannelError {
  if (error instanceof SecureChannelError) return error;
  return new SecureChannelError(`malformed ${what}: ${error instanceof Error ? error.message : String(error)}`);
}

/** Runs a field reader, turning codec and range failures into InvalidParameter. */
function read<T>(what: string, payload: Uint8Array, reader: (struct: TlvStruct) => T): T {
  const struct = decodeStruct(what, payload);
  try {
    return reader(struct);
  } catch (error) {
    throw invalid(what, error);
  }
}

function sessionId(struct: TlvStruct, tag: number): number {
  const id = struct.uint(tag);
  if (id < 1 || id > 0xffff) throw new CodecError(`session id ${id} is outside 1..65535`);
  return id;
}

/** The optional session parameters at `tag` as a member named `name`, to spread into a message. */
function parametersMember<K extends string>(struct: TlvStruct, tag: number, name: K): { [member in K]?: PeerSessionParameters } {
  const nested = struct.optionalStruct(tag);
  return nested ? ({ [name]: readSessionParameters(nested) } as { [member in K]: PeerSessionParameters }) : {};
}

function anonymousStructure(): TlvWriter {
  return new TlvWriter().startStructure(undefined);
}

function certificate(struct: TlvStruct, tag: number): Uint8Array {
  return struct.bytes(tag, { min: 1, max: MAX_MATTER_CERT_LENGTH });
}

function optionalCertificate(struct: TlvStruct, tag: number): Uint8Array | undefined {
  return struct.optionalBytes(tag, { min: 1, max: MAX_MATTER_CERT_LENGTH });
}

function writeParameters(writer: TlvWriter, tag: number, parameters: Parameters | undefined): TlvWriter {
  if (parameters === undefined) return writer;
  if (!("dataModelRevision" in parameters) || "mrp" in parameters) throw new SecureChannelError("only local session parameters can be encoded");
  writeSessionParameters(writer, tag, parameters as LocalSessionParameters);
  return writer;
}

/** Closes a message whose last member is its optional session parameters. */
function endWithParameters(writer: TlvWriter, tag: number, parameters: Parameters | undefined): Uint8Array {
  return writeParameters(writer, tag, parameters).end().finish();
}

// ---- PASE ----

export function encodePbkdfParamRequest(message: PbkdfParamRequest<LocalSessionParameters>): Uint8Array {
  const writer = anonymousStructure()
    .bytes(1, message.initiatorRandom)
    .uint(2, message.initiatorSessionId)
    .uint(3, message.passcodeId)
    .bool(4, message.hasPbkdfParameters);
  return endWithParameters(writer, 5, message.initiatorSessionParameters);
}

export function decodePbkdfParamRequest(payload: Uint8Array): PbkdfParamRequest {
  return read("PBKDFParamRequest", payload, (struct) => {
    const passcodeId = struct.uint(3);
    if (passcodeId > 0xffff) throw new CodecError(`passcode id ${passcodeId} does not fit 16 bits`);
    return {
      initiatorRandom: struct.bytes(1, RANDOM_LENGTH),
      initiatorSessionId: sessionId(struct, 2),
      passcodeId,
      hasPbkdfParameters: struct.bool(4),
      ...parametersMember(struct, 5, "initiatorSessionParameters"),
    };
  });
}

export function encodePbkdfParamResponse(message: PbkdfParamResponse<LocalSessionParameters>): Uint8Array {
  const writer = anonymousStructure()
    .bytes(1, message.initiatorRandom)
    .bytes(2, message.responderRandom)
    .uint(3, message.responderSessionId);
  if (message.pbkdfParameters) {
    writer.startStructure(4).uint(1, message.pbkdfParameters.iterations).bytes(2, message.pbkdfParameters.salt).end();
  }
  return endWithParameters(writer, 5, message.responderSessionParameters);
}

export function decodePbkdfParamResponse(payload: Uint8Array): PbkdfParamResponse {
  return read("PBKDFParamResponse", payload, (struct) => {
    const message: PbkdfParamResponse = {
      initiatorRandom: struct.bytes(1, RANDOM_LENGTH),
      responderRandom: struct.bytes(2, RANDOM_LENGTH),
      responderSessionId: sessionId(struct, 3),
    };
    const pbkdf = struct.optionalStruct(4);
    if (pbkdf) {
      const iterations = pbkdf.uint(1);
      if (iterations < PBKDF_MIN_ITERATIONS || iterations > PBKDF_MAX_ITERATIONS) {
        throw new CodecError(`PBKDF iterations ${iterations} outside ${PBKDF_MIN_ITERATIONS}..${PBKDF_MAX_ITERATIONS}`);
      }
      message.pbkdfParameters = { iterations, salt: pbkdf.bytes(2, { min: PBKDF_MIN_SALT_LENGTH, max: PBKDF_MAX_SALT_LENGTH }) };
    }
    return { ...message, ...parametersMember(struct, 5, "responderSessionParameters") };
  });
}

export function encodePake1(message: Pake1): Uint8Array {
  return anonymousStructure().bytes(1, message.pA).end().finish();
}

export function decodePake1(payload: Uint8Array): Pake1 {
  return read("Pake1", payload, (struct) => ({ pA: struct.bytes(1, PUBLIC_KEY_LENGTH) }));
}

export function encodePake2(message: Pake2): Uint8Array {
  return anonymousStructure().bytes(1, message.pB).bytes(2, message.cB).end().finish();
}

export function decodePake2(payload: Uint8Array): Pake2 {
  return read("Pake2", payload, (struct) => ({ pB: struct.bytes(1, PUBLIC_KEY_LENGTH), cB: struct.bytes(2, HASH_LENGTH) }));
}

export function encodePake3(message: Pake3): Uint8Array {
  return anonymousStructure().bytes(1, message.cA).end().finish();
}

export function decodePake3(payload: Uint8Array): Pake3 {
  return read("Pake3", payload, (struct) => ({ cA: struct.bytes(1, HASH_LENGTH) }));
}

// ---- CASE ----

export function encodeSigma1(message: Sigma1<LocalSessionParameters>): Uint8Array {
  if ((message.resumptionId === undefined) !== (message.initiatorResumeMic === undefined)) {
    throw new SecureChannelError("Sigma1 needs both resumption id and MIC, or neither");
  }
  const writer = anonymousStructure()
    .bytes(1, message.initiatorRandom)
    .uint(2, message.initiatorSessionId)
    .bytes(3, message.destinationId)
    .bytes(4, message.initiatorEphemeralPublicKey);
  writeParameters(writer, 5, message.initiatorSessionParameters);
  if (message.resumptionId && message.initiatorResumeMic) writer.bytes(6, message.resumptionId).bytes(7, message.initiatorResumeMic);
  return writer.end().finish();
}

export function decodeSigma1(payload: Uint8Array): Sigma1 {
  return read("Sigma1", payload, (struct) => {
    const message: Sigma1 = {
      initiatorRandom: struct.bytes(1, RANDOM_LENGTH),
      initiatorSessionId: sessionId(struct, 2),
      destinationId: struct.bytes(3, HASH_LENGTH),
      initiatorEphemeralPublicKey: struct.bytes(4, PUBLIC_KEY_LENGTH),
      ...parametersMember(struct, 5, "initiatorSessionParameters"),
    };
    const resumptionId = struct.optionalBytes(6, RESUMPTION_ID_LENGTH);
    const mic = struct.optionalBytes(7, MIC_LENGTH);
    if ((resumptionId === undefined) !== (mic === undefined)) throw new CodecError("resumption id and MIC need each other");
    if (resumptionId && mic) {
      message.resumptionId = resumptionId;
      message.initiatorResumeMic = mic;
    }
    return message;
  });
}

export function encodeSigma2(message: Sigma2<LocalSessionParameters>): Uint8Array {
  const writer = anonymousStructure()
    .bytes(1, message.responderRandom)
    .uint(2, message.responderSessionId)
    .bytes(3, message.responderEphemeralPublicKey)
    .bytes(4, message.encrypted2);
  return endWithParameters(writer, 5, message.responderSessionParameters);
}

export function decodeSigma2(payload: Uint8Array): Sigma2 {
  return read("Sigma2", payload, (struct) => ({
    responderRandom: struct.bytes(1, RANDOM_LENGTH),
    responderSessionId: sessionId(struct, 2),
    responderEphemeralPublicKey: struct.bytes(3, PUBLIC_KEY_LENGTH),
    encrypted2: struct.bytes(4, { min: MIC_LENGTH + 1, max: MAX_ENCRYPTED_LENGTH }),
    ...parametersMember(struct, 5, "responderSessionParameters"),
  }));
}

export function encodeSigma2Resume(message: Sigma2Resume<LocalSessionParameters>): Uint8Array {
  const writer = anonymousStructure()
    .bytes(1, message.resumptionId)
    .bytes(2, message.sigma2ResumeMic)
    .uint(3, message.responderSessionId);
  return endWithParameters(writer, 4, message.responderSessionParameters);
}

export function decodeSigma2Resume(payload: Uint8Array): Sigma2Resume {
  return read("Sigma2_Resume", payload, (struct) => ({
    resumptionId: struct.bytes(1, RESUMPTION_ID_LENGTH),
    sigma2ResumeMic: struct.bytes(2, MIC_LENGTH),
    responderSessionId: sessionId(struct, 3),
    ...parametersMember(struct, 4, "responderSessionParameters"),
  }));
}

export function encodeSigma3(message: Sigma3): Uint8Array {
  return anonymousStructure().bytes(1, message.encrypted3).end().finish();
}

export function decodeSigma3(payload: Uint8Array): Sigma3 {
  return read("Sigma3", payload, (struct) => ({ encrypted3: struct.bytes(1, { min: MIC_LENGTH + 1, max: MAX_ENCRYPTED_LENGTH }) }));
}

/** TBSData2 / TBSData3: what the sender signs (never sent as such; each side rebuilds it). */
export function encodeSignedData(data: SignedData): Uint8Array {
  return withCertificates(data).bytes(3, data.senderPublicKey).bytes(4, data.receiverPublicKey).end().finish();
}

/** The sender's NOC (1) and ICAC (2) that begin both TBS and TBE data. */
function withCertificates(data: { senderNoc: Uint8Array; senderIcac?: Uint8Array }): TlvWriter {
  const writer = anonymousStructure().bytes(1, data.senderNoc);
  return data.senderIcac ? writer.bytes(2, data.senderIcac) : writer;
}

export function encodeEncryptedData(data: EncryptedData): Uint8Array {
  const writer = withCertificates(data).bytes(3, data.signature);
  if (data.resumptionId) writer.bytes(4, data.resumptionId);
  return writer.end().finish();
}

/** TBEData2 (`withResumptionId`) or TBEData3, after decryption. */
export function decodeEncryptedData(payload: Uint8Array, withResumptionId: boolean): EncryptedData {
  return read(withResumptionId ? "TBEData2" : "TBEData3", payload, (struct) => {
    const data: EncryptedData = { senderNoc: certificate(struct, 1), signature: struct.bytes(3, SIGNATURE_LENGTH) };
    const icac = optionalCertificate(struct, 2);
    if (icac) data.senderIcac = icac;
    if (withResumptionId) data.resumptionId = struct.bytes(4, RESUMPTION_ID_LENGTH);
    return data;
  });
}
