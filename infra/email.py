"""E-mail notifications: the SES identity the service sends from, a configuration set whose
bounces and complaints go to an SNS topic, and that topic's subscription by the feedback worker's
queue (``shared.notify.sending.suppress`` then stops sending to those addresses).

The identity is a domain (``emailDomain`` in cdk.json): once deployed, publish the DKIM records
the SES console shows for it (runbook: first deploy). The topic is encrypted with a key of its own
that SES may use (SES cannot publish to a topic under the AWS-managed SNS key).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class Email(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain: str,
        from_address: str,
        feedback_queue: sqs.IQueue | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.from_address = from_address
        self.identity = ses.EmailIdentity(self, "Identity", identity=ses.Identity.domain(domain))
        self.identity_arn = stack.format_arn(service="ses", resource="identity", resource_name=domain)
        key = kms.Key(
            self, "FeedbackKey", description="Ticketing SES feedback topic", enable_key_rotation=True
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.feedback_topic = sns.Topic(
            self,
            "FeedbackTopic",
            display_name="Ticketing SES bounces and complaints",
            master_key=key,
            enforce_ssl=True,
        )
        self.configuration_set = ses.ConfigurationSet(self, "ConfigurationSet")
        self.configuration_set.add_event_destination(
            "BouncesAndComplaints",
            destination=ses.EventDestination.sns_topic(self.feedback_topic),
            events=[ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT],
        )
        self.configuration_set_arn = stack.format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )
        if feedback_queue is not None:
            self.feedback_topic.add_subscription(subscriptions.SqsSubscription(feedback_queue))
            if feedback_queue.encryption_master_key is not None:  # SNS must be able to write to it
                feedback_queue.encryption_master_key.grant_encrypt_decrypt(
                    iam.ServicePrincipal("sns.amazonaws.com")
                )
