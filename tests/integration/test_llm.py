"""The real local LLM server through the openai client."""

import asyncio

from tasks.clients.llm import async_client


def test_chat_completion_reports_usage(running_services):
    async def ask():
        async with async_client(running_services) as client:
            return await client.chat.completions.create(
                model=running_services.llm_model,
                messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
                max_tokens=8,
                temperature=0,
            )

    response = asyncio.run(ask())
    assert response.choices[0].message.content.strip()
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    assert response.model == running_services.llm_model
