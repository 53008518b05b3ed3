/**
 * Paths of the state directory (behaviour file §4.5), in one place:
 *   contents/sha384/<hex>/                 extracted layer (SHA-384 is always the primary name)
 *   contents/{sha256,sha512}/<hex>         symlink to ../sha384/<hex>
 *   contents/signer/<alg>/<signer>/<alias> content alias links
 *   images/<alg>/<signer>/<manifest>/      acon-manifest.json, signer.cer, l/<i> layer links
 *   images/<alg>/<signer>/<alias>          self alias link → <manifest>
 *   containers/top/, containers/<cid>/     container trees
 *   rtmr/rtmr3.log                         event log
 *   uploads/                               chunked blob uploads in progress
 *   tmp/                                   staging (same file system, renamed into place)
 */
export class Layout {
  constructor(readonly root: string) {}

  get contents(): string {
    return `${this.root}/contents`;
  }
  layerDir(sha384hex: string): string {
    return `${this.root}/contents/sha384/${sha384hex}`;
  }
  layerLink(alg: string, hex: string): string {
    return `${this.root}/contents/${alg}/${hex}`;
  }
  signerAliasDir(alg: string, signer: string): string {
    return `${this.root}/contents/signer/${alg}/${signer}`;
  }
  signerImagesDir(alg: string, signer: string): string {
    return `${this.root}/images/${alg}/${signer}`;
  }
  /** images/<alg>/<signer>/<manifest> for an image id `alg/signer/manifest`. */
  imageDir(imageId: string): string {
    return `${this.root}/images/${imageId}`;
  }
  get containers(): string {
    return `${this.root}/containers`;
  }
  containerDir(cid: number): string {
    return `${this.root}/containers/${cid}`;
  }
  get eventLog(): string {
    return `${this.root}/rtmr/rtmr3.log`;
  }
  get uploads(): string {
    return `${this.root}/uploads`;
  }
  get tmp(): string {
    return `${this.root}/tmp`;
  }
}

export const MANIFEST_FILE = "acon-manifest.json";
export const CERT_FILE = "signer.cer";
