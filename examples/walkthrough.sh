#!/usr/bin/env bash
# The first hour with provgate, as commands: put → record → policy denial.
#
# Run it from the repository folder while `make run` serves in another terminal:
#
#     examples/walkthrough.sh
#
# It needs only curl (7.75 or later, for --aws-sigv4) and the provgate command. Each step
# prints what it sends and what came back; the script stops at the first step whose
# answer is not the expected one (exit status 1). Settings, from the environment:
#
#     PROVGATE_ENDPOINT   the S3 endpoint                (default http://127.0.0.1:9000)
#     PROVGATE_CONFIG     the config the server runs     (default config.example.toml)
#     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY          (default: the example's dev identity)
#     AWS_DEFAULT_REGION                                 (default us-east-1)
#     PROVGATE            the provgate command (default .venv/bin/provgate if present)
#
# Every object goes under renders/examples/, so a run never touches anything else; run it
# as often as you like (each run adds a version).

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
endpoint=${PROVGATE_ENDPOINT:-http://127.0.0.1:9000}
config=${PROVGATE_CONFIG:-config.example.toml}
access_key=${AWS_ACCESS_KEY_ID:-provgate-dev}
secret=${AWS_SECRET_ACCESS_KEY:-provgate-dev-secret}
region=${AWS_DEFAULT_REGION:-us-east-1}
if [[ -n ${PROVGATE:-} ]]; then provgate=$PROVGATE
elif [[ -x .venv/bin/provgate ]]; then provgate=.venv/bin/provgate
else provgate=provgate; fi
bucket=renders
prefix=examples
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'walkthrough: %s\n' "$*" >&2; exit 1; }

# s3 METHOD PATH [curl args...]: a SigV4-signed request. Prints the HTTP status; the body
# lands in $scratch/body and the response headers in $scratch/headers.
s3() {
  local method=$1 path=$2; shift 2
  curl --silent --show-error --aws-sigv4 "aws:amz:${region}:s3" --user "${access_key}:${secret}" \
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X "$method" \
       -o "$scratch/body" -D "$scratch/headers" -w '%{http_code}' "$@" "${endpoint}${path}"
}
header() { grep -i "^$1:" "$scratch/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

# put FILE CONTENT-TYPE [x-amz-meta-NAME: VALUE ...]: upload examples/FILE, expect 200.
put() {
  local file=$1 type=$2; shift 2
  local args=(-H "Content-Type: $type" --data-binary "@$here/$file")
  for meta in "$@"; do args+=(-H "$meta"); done
  local shown=$type meta_line
  for meta_line in "$@"; do shown+="; $meta_line"; done
  echo "PUT s3://$bucket/$prefix/$file ($shown)"
  local status; status=$(s3 PUT "/$bucket/$prefix/$file" "${args[@]}")
  [[ $status == 200 ]] || fail "PUT $file answered $status: $(cat "$scratch/body")"
  echo "   200, version $(header x-amz-version-id)$( w=$(header x-provgate-warning); [[ -n $w ]] && echo "; warning: $w")"
}

step "1. a bucket for generator output (the shipped policies restrict 'renders' to PNG, JPEG, WebP and MP4)"
status=$(s3 PUT "/$bucket")
case $status in
  200) echo "created s3://$bucket" ;;
  409) echo "s3://$bucket exists already" ;;
  *) fail "CreateBucket answered $status: $(cat "$scratch/body")" ;;
esac

step "2. put: four files; provgate reads what each carries, headers add the rest"
put a1111.png image/png                                  # prompt, model, seed... from the PNG
put comfyui.png image/png                                # ComfyUI graph in the PNG
put c2pa-signed.jpg image/jpeg "x-amz-meta-prompt: a purple origami crane on white paper"
put clip.mp4 video/mp4 "x-amz-meta-prompt: drone shot over a misty forest" \
    "x-amz-meta-model: veo-3" "x-amz-meta-generator: Google Flow"

step "3. record: the XMP of a1111.png, served at <key>.xmp"
status=$(s3 GET "/$bucket/$prefix/a1111.png.xmp")
[[ $status == 200 ]] || fail "GET a1111.png.xmp answered $status"
grep -q "AIPromptInformation" "$scratch/body" || fail "the record has no AIPromptInformation"
grep -o '<Iptc4xmpExt:AISystemUsed>[^<]*' "$scratch/body" | sed 's/.*>/   AISystemUsed: /' || true
echo "   $(wc -c < "$scratch/body") bytes of XMP; the catalog's view of it:"
"$provgate" asset show "$bucket/$prefix/a1111.png" --config "$config" | sed 's/^/   /'

step "4. policy denial: a text brief is not a render"
echo "PUT s3://$bucket/$prefix/brief.txt (text/plain)"
status=$(s3 PUT "/$bucket/$prefix/brief.txt" -H "Content-Type: text/plain" \
         --data-binary "@$here/brief.txt")
[[ $status == 403 ]] || fail "PUT brief.txt answered $status, expected 403 from the policy"
echo "   403, rule $(header x-provgate-policy): $(grep -o '<Message>[^<]*' "$scratch/body" | sed 's/<Message>//')"
status=$(s3 HEAD "/$bucket/$prefix/brief.txt" -I)
[[ $status == 404 ]] || fail "the denied brief.txt is stored after all (HEAD answered $status)"
echo "   nothing was stored (HEAD: 404)"

# Steps to come, in this order, as the features land: 5. review (approve the version),
# 6. distribution (an approved asset copied to a target). Each gets a numbered step here
# and its section in the README.

step "done: every step answered as expected"
