#!/usr/bin/env bash
# Creates one Amazon Security Lake custom source per OCSF class okta-ingest writes, and
# prints the value of the stack's SecurityLakeSources parameter (docs/ocsf.md).
#
#   scripts/security-lake-sources.sh --external-id ID --crawler-role-arn ARN [--prefix okta]
#
# Run it with credentials of the Security Lake administrator account, in the lake's region
# (AWS_REGION or --region in AWS_DEFAULT_REGION). CloudFormation has no resource type for
# custom sources, so this is the one step outside the stack. --crawler-role-arn is the role
# Security Lake's Glue crawler uses (AWSGlueServiceRole plus read on the lake bucket).
# --principal is the account okta-ingest runs in (default: the caller's account).
set -euo pipefail

external_id="" crawler_role="" prefix="okta" principal=""
while [ $# -gt 0 ]; do
  case "$1" in
    --external-id) external_id="$2"; shift 2 ;;
    --crawler-role-arn) crawler_role="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --principal) principal="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$external_id" ] || [ -z "$crawler_role" ]; then
  echo "usage: $0 --external-id ID --crawler-role-arn ARN [--prefix okta] [--principal ACCOUNT]" >&2
  exit 2
fi
if [ -z "$principal" ]; then
  principal=$(aws sts get-caller-identity --query Account --output text)
fi

# class_uid and source name suffix (source names are at most 20 characters).
classes="2004:finding 3001:account 3002:auth 3003:authz 3004:entity 3005:access 3006:group 6003:api"
json="{"
sep=""
for entry in $classes; do
  uid=${entry%%:*}
  name="${prefix}-${entry#*:}"
  if [ ${#name} -gt 20 ]; then
    echo "source name $name is longer than 20 characters: choose a shorter --prefix" >&2
    exit 2
  fi
  read -r location role < <(aws securitylake create-custom-log-source \
    --source-name "$name" --source-version "1.0" \
    --configuration "crawlerConfiguration={roleArn=$crawler_role},providerIdentity={externalId=$external_id,principal=$principal}" \
    --query 'source.provider.[location,roleArn]' --output text)
  echo "created $name for class $uid: $location" >&2
  json="$json$sep\"$uid\":{\"location\":\"$location\",\"role_arn\":\"$role\"}"
  sep=","
done
echo "$json}"
