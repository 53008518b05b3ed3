/**
 * Intel's SGX Root CA, pinned: every DCAP chain (PCK certificates, TCB info, QE identity, CRLs)
 * must end at this certificate. Subject "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa
 * Clara, ST=CA, C=US", serial 22650CD65A9D3489F383B49552BF501B392706AC, valid 2018-05-21 to
 * 2049-12-31; published at https://certificates.trustedservices.intel.com/IntelSGXRootCA.der.
 * SHA-256 of the DER: INTEL_SGX_ROOT_CA_SHA256 (tests check both).
 */
import { Buffer } from "node:buffer";

const B64 =
  "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIwaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJv" +
  "b3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ" +
  "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0Ex" +
  "GjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT" +
  "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi71OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL" +
  "0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOBuzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ" +
  "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50ZWwuY29tL0ludGVsU0dYUm9vdENBLmRl" +
  "cjAdBgNVHQ4EFgQUImUM1lqdNInzg7SVUr9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI" +
  "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwgAiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZ" +
  "UGOdRQ7cvqRXaqI=";

export const INTEL_SGX_ROOT_CA_DER: Uint8Array = new Uint8Array(Buffer.from(B64, "base64"));
export const INTEL_SGX_ROOT_CA_SHA256 =
  "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";
