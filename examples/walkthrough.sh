#!/usr/bin/env bash
# The first hour with provgate, as commands: put → record → policy denial → review →
# distribution.
#
# Run it from the repository folder while `make run` serves in another terminal:
#
#     examples/walkthrough.sh
#
# It needs only curl (7.75 or later, for --aws-sigv4) and the provgate command; with
# exiftool on the PATH, step 6 also shows the provenance inside the delivered copy. Each
# step prints what it sends and what came back; the script stops at the first step whose
# answer is not the expected one (exit status 1). Settings, from the environment:
#
#     PROVGATE_ENDPOINT   the S3 endpoint                (default http://127.0.0.1:9000)
#     PROVGATE_ADMIN_ENDPOINT                            (default http://127.0.0.1:9001)
#                         the admin listener ([admin] listen), as for `provgate review`
#     PROVGATE_CONFIG     the config the server runs     (default config.example.toml)
#     PROVGATE_PUBLISHED  the folder of its [targets.www] (default: published/ beside the
#                         config, as config.example.toml's path = "./published")
#     PROVGATE_WAIT       seconds step 6 waits for the copy (default 60)
#     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY          (default: the example's dev identity)
#     AWS_DEFAULT_REGION                                 (default us-east-1)
#     PROVGATE            the provgate command (default .venv/bin/provgate if present)
#
# Every object goes under renders/examples/, so a run never touches anything else; run it
# as often as you like (each run adds a version, which is reviewed and published anew).
# The copy of step 6 lands in PROVGATE_PUBLISHED/examples/a1111.png.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
endpoint=${PROVGATE_ENDPOINT:-http://127.0.0.1:9000}
admin=${PROVGATE_ADMIN_ENDPOINT:-http://127.0.0.1:9001}
config=${PROVGATE_CONFIG:-config.example.toml}
published=${PROVGATE_PUBLISHED:-$(dirname "$config")/published}
wait_seconds=${PROVGATE_WAIT:-60}
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

# api METHOD PATH [curl args...]: an admin API call (HTTP Basic with the same access key
# and secret). Prints the HTTP status; the body lands in $scratch/body.
api() {
  local method=$1 path=$2; shift 2
  curl --silent --show-error --user "${access_key}:${secret}" -X "$method" \
       -o "$scratch/body" -w '%{http_code}' "$@" "${admin}${path}"
}
# json_field NAME: the first "NAME": "value" (a string) of $scratch/body.
json_field() { grep -o "\"$1\": *\"[^\"]*\"" "$scratch/body" | head -n1 | sed 's/.*: *"//; s/"$//'; }

# s3 METHOD PATH [curl args...]: a SigV4-signed request. Prints the HTTP status; the body
# lands in $scratch/body and the response headers in $scratch/headers.
s3() {
  local method=$1 path=$2; shift 2
  curl --silent --show-error --aws-sigv4 "aws:amz:${region}:s3" --user "${access_key}:${secret}" \
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X "$method" \
       -o "$scratch/body" -D "$scratch/headers" -w '%{http_code}' "$@" "${endpoint}${path}"
}
header() { grep -i "^$1:" "$scratch/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

# put FILE CONTENT-TYPE [x-amz-meta-NAME: VALUE ...]: upload examples/FILE, expect 200;
# the new version's id is left in $stored_version.
put() {
  local file=$1 type=$2; shift 2
  local args=(-H "Content-Type: $type" --data-binary "@$here/$file")
  for meta in "$@"; do args+=(-H "$meta"); done
  local shown=$type meta_line
  for meta_line in "$@"; do shown+="; $meta_line"; done
  echo "PUT s3://$bucket/$prefix/$file ($shown)"
  local status; status=$(s3 PUT "/$bucket/$prefix/$file" "${args[@]}")
  [[ $status == 200 ]] || fail "PUT $file answered $status: $(cat "$scratch/body")"
  stored_version=$(header x-amz-version-id)
  echo "   200, version $stored_version$( w=$(header x-provgate-warning); [[ -n $w ]] && echo "; warning: $w")"
}

step "1. a bucket for generator output (the shipped policies restrict 'renders' to PNG, JPEG, WebP and MP4)"
status=$(s3 PUT "/$bucket")
case $status in
  200) echo "created s3://$bucket" ;;
  409) echo "s3://$bucket exists already" ;;
  *) fail "CreateBucket answered $status: $(cat "$scratch/body")" ;;
esac

step "2. put: four files; provgate reads what each carries, headers add the rest"
put a1111.png image/png "x-amz-meta-license: LicenseRef-ExampleBrand-Internal"
                                  # prompt, model, seed... from the PNG; the licence
                                  # distribution needs (policies/distribution.toml), by header
a1111_version=$stored_version     # the version steps 5 and 6 approve and publish
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

key=$prefix/a1111.png
version=$a1111_version
step "5. review: approve the version of $bucket/$key put in step 2, through the admin API"
decision="{\"decision\": \"approve\", \"version_id\": \"$version\", \"note\": \"walk-through\"}"
echo "POST $admin/api/v1/reviews/$bucket/$key/decisions $decision"
status=$(api POST "/api/v1/reviews/$bucket/$key/decisions" \
         -H "Content-Type: application/json" --data "$decision")
[[ $status == 200 ]] || fail "the approval answered $status: $(cat "$scratch/body")"
review_status=$(json_field status)
echo "   200, review status: $review_status"
# policies/review.toml asks for two approvals, trialled in warn mode: one is enough, with a
# warning that says so.
grep -o '"warnings": *\[[^]]*\]' "$scratch/body" | sed 's/^/   /' || true
[[ $review_status == approved || $review_status == published ]] \
  || fail "the version is $review_status after the approval, not approved"
status=$(s3 HEAD "/$bucket/$key?versionId=$version" -I)
[[ $status == 200 ]] || fail "HEAD $key answered $status"
# "published" once the copy of step 6 is out (it may be quicker than this HEAD)
review_header=$(header x-provgate-review)
[[ $review_header == approved || $review_header == published ]] \
  || fail "HEAD answered x-provgate-review: ${review_header:-none} after the approval"
echo "   HEAD: x-provgate-review: $review_header"

step "6. distribution: the route renders-to-www (policies/routes.toml) copies it to [targets.www]"
copy="$published/$key"
deadline=$((SECONDS + wait_seconds))
replication=""
while :; do
  status=$(s3 HEAD "/$bucket/$key?versionId=$version" -I)
  [[ $status == 200 ]] || fail "HEAD $key answered $status"
  replication=$(header x-amz-replication-status)
  [[ $replication == COMPLETED && -f $copy ]] && break
  if (( SECONDS >= deadline )); then
    "$provgate" distribute status "$bucket/$key" --config "$config" >&2 || true
    fail "no copy after ${wait_seconds}s (x-amz-replication-status: ${replication:-none})"
  fi
  sleep 0.5
done
echo "   HEAD: x-amz-replication-status: $replication"
echo "   copy: $copy ($(wc -c < "$copy") bytes; stored: $(wc -c < "$here/a1111.png") bytes)"
if command -v exiftool >/dev/null; then
  echo "   provenance written into the copy (exiftool):"
  exiftool -s -s -XMP-iptcExt:DigitalSourceType -XMP-iptcExt:AIPromptInformation \
           -XMP-plus:LicenseID "$copy" | sed 's/^/     /'
  exiftool -s -s -s -XMP-iptcExt:DigitalSourceType "$copy" | grep -q . \
    || fail "the copy carries no DigitalSourceType"
else
  echo "   (install exiftool to see the DigitalSourceType and prompt written into the copy)"
fi
echo "   provgate distribute status:"
"$provgate" distribute status "$bucket/$key" --config "$config" | sed 's/^/   /'

step "done: every step answered as expected; the first approved asset is published in $published"
